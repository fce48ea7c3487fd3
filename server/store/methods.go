package store

import (
	"context"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// The methods below run the Tx method of the same name in a transaction of
// its own.

func run[T any](ctx context.Context, db *DB, fn func(tx *Tx) (T, error)) (T, error) {
	var out T
	err := db.InTx(ctx, func(tx *Tx) error {
		var err error
		out, err = fn(tx)
		return err
	})
	return out, err
}

// CreateLab: see Tx.CreateLab.
func (db *DB) CreateLab(ctx context.Context, l *api.LabInstanceRequest) (*api.LabInstanceRequest, error) {
	return db.createLab(ctx, nil, l)
}

// GetLab: see Tx.GetLab.
// It is one statement, so one snapshot without a transaction: one round
// trip rather than three (BEGIN, SELECT, COMMIT).
func (db *DB) GetLab(ctx context.Context, key api.Key) (*api.LabInstanceRequest, error) {
	return (&Tx{db: db, g: db.g.WithContext(ctx)}).GetLab(ctx, key)
}

// ListLabs: see Tx.ListLabs. The page and its resource_version come from
// one snapshot.
func (db *DB) ListLabs(ctx context.Context, opts ListOptions) (*api.LabInstanceRequestList, error) {
	var out *api.LabInstanceRequestList
	err := db.inTx(ctx, readOnly, func(tx *Tx) error {
		var err error
		out, err = tx.ListLabs(ctx, opts)
		return err
	})
	return out, err
}

// UpdateLab: see Tx.UpdateLab.
func (db *DB) UpdateLab(ctx context.Context, key api.Key, opts WriteOptions, mutate Mutator) (*api.LabInstanceRequest, error) {
	return run(ctx, db, func(tx *Tx) (*api.LabInstanceRequest, error) { return tx.UpdateLab(ctx, key, opts, mutate) })
}

// DeleteLab: see Tx.DeleteLab. Without opts.ExpectedVersion, a write that
// lands between its read and its own write (the controller recording a
// status) is not the caller's conflict: it is retried, as in
// UpdateLabWithRetry, so that a plain DELETE never answers 409.
func (db *DB) DeleteLab(ctx context.Context, key api.Key, opts WriteOptions) (*api.LabInstanceRequest, bool, error) {
	var deleted bool
	l, err := retryStale(ctx, opts, func() (*api.LabInstanceRequest, error) {
		return run(ctx, db, func(tx *Tx) (*api.LabInstanceRequest, error) {
			l, d, err := tx.DeleteLab(ctx, key, opts)
			deleted = d
			return l, err
		})
	})
	return l, deleted, err
}

// AppendEvent: see Tx.AppendEvent.
func (db *DB) AppendEvent(ctx context.Context, l *api.LabInstanceRequest, eventType, message string, opts WriteOptions) error {
	return db.InTx(ctx, func(tx *Tx) error { return tx.AppendEvent(ctx, l, eventType, message, opts) })
}

// ReadEvents: see Tx.ReadEvents.
func (db *DB) ReadEvents(ctx context.Context, after int64, limit int) ([]Event, error) {
	return run(ctx, db, func(tx *Tx) ([]Event, error) { return tx.ReadEvents(ctx, after, limit) })
}

// EventBounds: see Tx.EventBounds.
func (db *DB) EventBounds(ctx context.Context) (floor, current int64, err error) {
	err = db.InTx(ctx, func(tx *Tx) error {
		floor, current, err = tx.EventBounds(ctx)
		return err
	})
	return floor, current, err
}

// CheckResume: see Tx.CheckResume.
func (db *DB) CheckResume(ctx context.Context, after int64) error {
	return db.InTx(ctx, func(tx *Tx) error { return tx.CheckResume(ctx, after) })
}

// Bookmarks: see Tx.Bookmarks.
func (db *DB) Bookmarks(ctx context.Context) ([]api.WatcherBookmark, error) {
	return run(ctx, db, func(tx *Tx) ([]api.WatcherBookmark, error) { return tx.Bookmarks(ctx) })
}

// PruneEvents: see Tx.PruneEvents.
func (db *DB) PruneEvents(ctx context.Context, cutoff time.Time) (int64, error) {
	return run(ctx, db, func(tx *Tx) (int64, error) { return tx.PruneEvents(ctx, cutoff) })
}

// LabHistory: see Tx.LabHistory.
func (db *DB) LabHistory(ctx context.Context, key api.Key) (*api.LabEventList, error) {
	return run(ctx, db, func(tx *Tx) (*api.LabEventList, error) { return tx.LabHistory(ctx, key) })
}

// CountByPhase: see Tx.CountByPhase.
func (db *DB) CountByPhase(ctx context.Context) (map[api.Phase]int64, error) {
	return run(ctx, db, func(tx *Tx) (map[api.Phase]int64, error) { return tx.CountByPhase(ctx) })
}

// CountDeleting: see Tx.CountDeleting.
func (db *DB) CountDeleting(ctx context.Context) (int64, error) {
	return run(ctx, db, func(tx *Tx) (int64, error) { return tx.CountDeleting(ctx) })
}

// StartTerm: see Tx.StartTerm.
func (db *DB) StartTerm(ctx context.Context, holder string) (Term, error) {
	return run(ctx, db, func(tx *Tx) (Term, error) { return tx.StartTerm(ctx, holder) })
}

// CurrentTerm: see Tx.CurrentTerm.
func (db *DB) CurrentTerm(ctx context.Context) (Term, error) {
	return run(ctx, db, func(tx *Tx) (Term, error) { return tx.CurrentTerm(ctx) })
}

// Counters: see Tx.Counters.
func (db *DB) Counters(ctx context.Context) (map[string]int64, error) {
	return run(ctx, db, func(tx *Tx) (map[string]int64, error) { return tx.Counters(ctx) })
}

var (
	_ Interface = (*DB)(nil)
	_ Interface = (*Tx)(nil)
)
