package api

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// ReasonInsufficientCapacity is the reason of a PENDING lab's Scheduled=False
// condition while it waits in the capacity queue (and of its failure when
// it asks for more than the whole capacity).
const ReasonInsufficientCapacity = "InsufficientCapacity"

// QueueMessage is the message of a queued lab's Scheduled=False condition:
// its place in the capacity queue, then what it waits for. QueuePosition
// reads the place back.
func QueueMessage(position, length int, detail string) string {
	return fmt.Sprintf("position %d of %d in the capacity queue: %s", position, length, detail)
}

var queueRe = regexp.MustCompile(`^position ([0-9]+) of ([0-9]+) in the capacity queue`)

// QueuePosition reads a lab's place in the capacity queue, and the queue's
// length then, from its Scheduled condition's message (QueueMessage); ok is
// false for any other message.
func QueuePosition(message string) (position, length int, ok bool) {
	m := queueRe.FindStringSubmatch(message)
	if m == nil {
		return 0, 0, false
	}
	p, err1 := strconv.Atoi(m[1])
	n, err2 := strconv.Atoi(m[2])
	return p, n, err1 == nil && err2 == nil
}

// CapacityStatus is GET /api/status/capacity: what labs may reserve in
// total, what the labs admitted hold, what is free, and the labs waiting
// for capacity in the order they will be admitted.
type CapacityStatus struct {
	// Total is what labs' requests may add up to: --capacity-cpu and
	// --capacity-memory, or the engine's CPUs and memory.
	Total    Resources `json:"total"`
	Reserved Resources `json:"reserved"`
	// Free is Total less Reserved; it may be negative after the capacity
	// shrank under labs already running.
	Free Resources `json:"free"`
	// MaxPerLab is the most one lab's limits may be (the engine's CPUs
	// and memory, a cluster's largest node): a lab above it fails at
	// admission. Absent where the engine does not say.
	MaxPerLab *Resources `json:"max_per_lab,omitempty"`
	// Admitted counts the labs holding a reservation (PROVISIONING,
	// RUNNING, TIMEOUT).
	Admitted int `json:"admitted"`
	// Queued counts the labs waiting for capacity; Queue lists the first
	// of them (see ?limit=), first to be admitted first.
	Queued int         `json:"queued"`
	Queue  []QueuedLab `json:"queue"`
	// Source is "leader" when the leading controller answered from its
	// admission ledger, "store" when this replica computed the same from
	// the database (a standby, or an API-only replica).
	Source string `json:"source"`
	// RecordedAt is when the leader recorded Total (at the start of its
	// term), and RecordedBy which replica did.
	RecordedAt *time.Time `json:"recorded_at,omitempty"`
	RecordedBy string     `json:"recorded_by,omitempty"`
}

// QueuedLab is one lab in the capacity queue.
type QueuedLab struct {
	Position     int       `json:"position"`
	Namespace    string    `json:"namespace"`
	Name         string    `json:"name"`
	UID          string    `json:"uid"`
	StudentEmail string    `json:"student_email"`
	Requests     Resources `json:"requests"`
	// EligibleSince is when the lab could first start (its creation, its
	// scheduled start or a start request): the queue's order, then uid.
	EligibleSince time.Time `json:"eligible_since"`
}

// Capacity query limits.
const (
	DefaultCapacityQueueLimit = 100
	MaxCapacityQueueLimit     = 10000
)
