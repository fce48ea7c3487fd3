package reconcile

import (
	"fmt"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// requests is what a lab reserves while it holds an allocation: its
// resource_requests (Spec.EffectiveRequests: a lab stored before requests
// existed reserves the default requests under its limits, like a new lab
// that names none).
func requests(lab *api.LabInstanceRequest) workload.Resources {
	rr := lab.Spec.EffectiveRequests()
	cpu, _ := api.ParseCPU(rr.CPU)
	mem, _ := api.ParseMemory(rr.Memory)
	return workload.Resources{MilliCPU: cpu, MemoryBytes: mem}
}

// limits is what caps a lab's workload.
func limits(lab *api.LabInstanceRequest) workload.Resources {
	rl := lab.Spec.EffectiveLimits()
	cpu, _ := api.ParseCPU(rl.CPU)
	mem, _ := api.ParseMemory(rl.Memory)
	return workload.Resources{MilliCPU: cpu, MemoryBytes: mem}
}

// holdsAllocation reports whether a lab in phase p holds its requests
// (from the workload's placement until it finishes; an admitted PENDING
// lab, waiting for placement, holds them too: see admitted).
func holdsAllocation(p api.Phase) bool {
	return p == api.PhaseProvisioning || p == api.PhaseRunning || p == api.PhaseTimeout
}

// queueView is what admission looks at for one lab: the host's capacity,
// what admitted labs hold, and the lab's place in the queue.
type queueView struct {
	Capacity workload.Resources
	Reserved workload.Resources
	Position int // 1-based; the head of the queue is 1
	Length   int // labs in the queue
}

// admission is the outcome of admit.
type admission struct {
	admit   bool
	never   bool // the lab asks for more than the whole capacity
	message string
}

// admit decides whether a lab needing need may start now, first come
// first served: only the head of the queue starts, and only if it fits in
// what is free, so a big lab is not starved by a stream of small ones.
// Pure, and O(1): the ledger supplies the view in O(log n).
func admit(need workload.Resources, v queueView) admission {
	if !need.Fits(v.Capacity) {
		return admission{never: true, message: fmt.Sprintf("asks for %s but the host has only %s", need, v.Capacity)}
	}
	free := v.Capacity.Sub(v.Reserved)
	if v.Position > 1 {
		ahead := "lab is"
		if v.Position > 2 {
			ahead = "labs are"
		}
		return admission{message: api.QueueMessage(v.Position, v.Length,
			fmt.Sprintf("%d %s ahead of it; it needs %s", v.Position-1, ahead, need))}
	}
	if !need.Fits(free) {
		return admission{message: api.QueueMessage(v.Position, v.Length,
			fmt.Sprintf("needs %s, free %s of %s", need, nonNegative(free), v.Capacity))}
	}
	return admission{admit: true, message: fmt.Sprintf("allocated %s", need)}
}

func nonNegative(r workload.Resources) workload.Resources {
	return workload.Resources{MilliCPU: max(0, r.MilliCPU), MemoryBytes: max(0, r.MemoryBytes)}
}

// rewriteCondition reports whether a waiting lab's Scheduled condition,
// now cur, should be written as next. A queued lab's place changes with
// every admission ahead of it; rewriting every queued lab each time would
// cost O(n) writes per admission. So the place is rewritten when it has
// at least halved (or the lab moved back, or reached the head, where the
// message says what is free): O(log n) writes per lab over its whole wait.
// GET /api/status/capacity always has the exact order. Pure.
func rewriteCondition(cur *api.Condition, next api.Condition) bool {
	if cur == nil || cur.Status != next.Status || cur.Reason != next.Reason {
		return true
	}
	if cur.Message == next.Message {
		return false
	}
	was, _, ok1 := api.QueuePosition(cur.Message)
	now, _, ok2 := api.QueuePosition(next.Message)
	if !ok1 || !ok2 {
		return true
	}
	return now == 1 || now*2 <= was || now > was
}

// queueLess orders the capacity queue first come first served: by the
// time labs became eligible, then uid.
func queueLess(a, b *ledgerEntry) bool {
	if c := a.at.Compare(b.at); c != 0 {
		return c < 0
	}
	return a.uid < b.uid
}

// eligibleAt is when a PENDING lab could first start: its creation, or its
// scheduled start if later, or a start request if earlier than that.
func eligibleAt(l *api.LabInstanceRequest) time.Time {
	var at time.Time
	if l.Metadata.CreationTimestamp != nil {
		at = *l.Metadata.CreationTimestamp
	}
	if t, err := api.ParseStartTime(l.Spec.ScheduledStartTime); err == nil && t.After(at) {
		at = t
	}
	if v, ok := l.Metadata.Annotations[api.AnnotationStartRequested]; ok {
		if t, err := time.Parse(time.RFC3339, v); err == nil && t.Before(at) {
			at = t
		}
	}
	return at.UTC()
}

// eligible reports whether a PENDING lab may start at now (ignoring capacity).
func eligible(l *api.LabInstanceRequest, now time.Time) bool {
	if l.Status.Phase != api.PhasePending || l.Metadata.DeletionTimestamp != nil {
		return false
	}
	if _, ok := l.Metadata.Annotations[api.AnnotationStartRequested]; ok {
		return true
	}
	t, err := api.ParseStartTime(l.Spec.ScheduledStartTime)
	return err == nil && !t.After(now)
}
