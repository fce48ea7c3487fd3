package outbox

import (
	"context"
	"fmt"

	"github.com/labrm/terraform-provider-lab/server/store"
)

// Handler handles one batch of events inside the transaction that advances
// the bookmark. An error rolls the batch back; it is retried after a
// backoff.
type Handler func(ctx context.Context, tx *store.Tx, events []store.Event) error

// NewWatcher returns a follower whose bookmark, cfg.Name, advances in the
// same transaction as h's database effects: each batch is one transaction
// (lock the bookmark, read, handle, advance, commit), so those effects
// happen exactly once. Effects outside the database happen at least once.
// It starts with Run.
func NewWatcher(db *store.DB, cfg Config, h Handler) *Follower {
	cfg.Notify = notifier(cfg.Notify, db)
	f := newFollower(cfg, false)
	b := bookmark{name: cfg.Name, group: cfg.Group}
	f.step = func(ctx context.Context) (int, error) { return f.stepInTx(ctx, db, b, h) }
	return f
}

func (f *Follower) stepInTx(ctx context.Context, db *store.DB, b bookmark, h Handler) (int, error) {
	var (
		handled []store.Event
		expired *ExpiredError
		behind  bool
		pos     int64
	)
	err := db.InTx(ctx, func(tx *store.Tx) error {
		floor, current, err := tx.EventBounds(ctx)
		if err != nil {
			return err
		}
		if pos, err = b.lock(ctx, tx, initial(f.cfg.Start, floor, current)); err != nil {
			return err
		}
		if pos < floor {
			expired = &ExpiredError{Position: pos, Floor: floor}
			return nil
		}
		events, err := tx.ReadEvents(ctx, pos, f.cfg.BatchSize)
		if err != nil || len(events) == 0 {
			behind = current > pos
			return err
		}
		if err := h(ctx, tx, events); err != nil {
			return fmt.Errorf("handle events: %w", err)
		}
		handled = events
		return b.advance(ctx, tx, events[len(events)-1].Position)
	})
	if err != nil {
		return 0, err
	}
	if expired != nil {
		return f.expired(ctx, expired, f.toFloor(db, b))
	}
	if len(handled) == 0 {
		f.setPosition(pos)
		if behind {
			return -1, nil
		}
		return 0, nil
	}
	f.advanced(handled[len(handled)-1].Position)
	f.batch(handled)
	return len(handled), nil
}

// notifier returns n, or db when n is nil.
func notifier(n Notifier, db *store.DB) Notifier {
	if n != nil {
		return n
	}
	return db
}
