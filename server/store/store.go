package store

// This file is the store's public surface. Bodies live in the other files.

import (
	"context"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// ListOptions filters and pages a list. Every filter is served by an index.
type ListOptions struct {
	Namespace     string            // "" means all namespaces
	Phase         api.Phase         // "" means any
	StudentEmail  string            // "" means any
	LabelSelector map[string]string // every pair must match
	Limit         int               // 0 means DefaultListLimit; capped at MaxListLimit
	Continue      string            // opaque token from a previous page
}

// List limits.
const (
	DefaultListLimit = 500
	MaxListLimit     = 1000
)

// WriteOptions qualify a write.
type WriteOptions struct {
	// ExpectedVersion, when non-zero, must equal the stored
	// resource_version or the write fails with api.ECONFLICT.
	ExpectedVersion int64
	// Fence, when non-zero, is the leader epoch the write is made under: the
	// write fails with api.EFENCED unless it is still the current epoch,
	// checked in the same transaction (SELECT ... FOR SHARE).
	Fence int64
}

// Event is one row of the transactional outbox.
type Event struct {
	ID int64
	// Position orders events: all events of one transaction share it, and a
	// reader that has seen position P has seen every event at or below P.
	// On PostgreSQL it is the writing transaction's id (xid8); on SQLite a
	// commit sequence.
	Position int64
	Type     string // api.Event* constants
	Key      api.Key
	UID      string
	// Object is the lab as the change left it (for a deletion, its last state).
	Object  *api.LabInstanceRequest
	Message string
	Time    time.Time
}

// Mutator changes a lab in place inside a write transaction. It gets a copy
// of the current, locked version and may be called again on a fresh copy
// after a conflict, so it must not keep state between calls.
type Mutator func(l *api.LabInstanceRequest) error

// Interface is what callers outside the store use; *DB and *Tx both
// implement it, the latter inside a caller's transaction.
type Interface interface {
	CreateLab(ctx context.Context, l *api.LabInstanceRequest) (*api.LabInstanceRequest, error)
	GetLab(ctx context.Context, key api.Key) (*api.LabInstanceRequest, error)
	ListLabs(ctx context.Context, opts ListOptions) (*api.LabInstanceRequestList, error)
	UpdateLab(ctx context.Context, key api.Key, opts WriteOptions, mutate Mutator) (*api.LabInstanceRequest, error)
	DeleteLab(ctx context.Context, key api.Key, opts WriteOptions) (l *api.LabInstanceRequest, deleted bool, err error)
	AppendEvent(ctx context.Context, l *api.LabInstanceRequest, eventType, message string, opts WriteOptions) error
}
