package outbox

import (
	"context"
	"fmt"
	"time"

	"github.com/labrm/terraform-provider-lab/server/store"
)

// DeliverFunc delivers one event outside any transaction, retrying as it
// sees fit; nil means delivered. An error stops the batch: what was
// delivered is saved, and the rest is delivered again after a backoff.
// checkpoint saves the bookmark past every transaction whose events have
// all been delivered; call it before a long wait (a retry's backoff), so
// that an outage does not leave delivered events to be delivered again.
type DeliverFunc func(ctx context.Context, ev store.Event, checkpoint func()) error

// NewDeliverer returns a follower whose bookmark, cfg.Name, advances after
// delivery: it reads a batch in a short transaction, delivers its events
// one by one with no transaction open, then saves the bookmark in another
// short one. Delivery is at least once: a crash between a delivery and the
// save delivers again. The bookmark only moves forward, and only to the end
// of a transaction all of whose events were delivered. It starts with Run.
func NewDeliverer(db *store.DB, cfg Config, deliver DeliverFunc) *Follower {
	cfg.Notify = notifier(cfg.Notify, db)
	f := newFollower(cfg, false)
	b := bookmark{name: cfg.Name, group: cfg.Group}
	f.step = func(ctx context.Context) (int, error) { return f.stepDeliver(ctx, db, b, deliver) }
	return f
}

// saveTimeout bounds a save of the bookmark, which may run after ctx ended.
const saveTimeout = 5 * time.Second

func (f *Follower) stepDeliver(ctx context.Context, db *store.DB, b bookmark, deliver DeliverFunc) (int, error) {
	var (
		pos, current int64
		expired      *ExpiredError
	)
	// The bookmark's row lock is held only for this short transaction: on
	// PostgreSQL an open transaction holds back every outbox reader.
	err := db.InTx(ctx, func(tx *store.Tx) error {
		floor, cur, err := tx.EventBounds(ctx)
		if err != nil {
			return err
		}
		current = cur
		if pos, err = b.lock(ctx, tx, initial(f.cfg.Start, floor, cur)); err != nil {
			return err
		}
		if pos < floor {
			expired = &ExpiredError{Position: pos, Floor: floor}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("read bookmark %s: %w", b.name, err)
	}
	if expired != nil {
		return f.expired(ctx, expired, f.toFloor(db, b))
	}
	f.setPosition(pos)
	events, err := db.ReadEvents(ctx, pos, f.cfg.BatchSize)
	if err != nil {
		return 0, err
	}
	if len(events) == 0 {
		if current > pos {
			return -1, nil
		}
		return 0, nil
	}
	// done is the highest position whose events have all been delivered;
	// saved is what the bookmark holds. Saving is short and survives the
	// end of ctx (a stop), so that what was delivered is not delivered
	// again.
	done, saved := pos, pos
	save := func() error {
		if done <= saved {
			return nil
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
		defer cancel()
		if err := db.InTx(sctx, func(tx *store.Tx) error { return b.advance(sctx, tx, done) }); err != nil {
			return fmt.Errorf("advance bookmark %s: %w", b.name, err)
		}
		saved = done
		f.advanced(done)
		return nil
	}
	checkpoint := func() {
		if err := save(); err != nil {
			f.cfg.Logger.Warn("outbox follower could not save its bookmark; delivered events may be delivered again",
				"follower", b.name, "err", err)
		}
	}
	for i, ev := range events {
		if err := deliver(ctx, ev, checkpoint); err != nil {
			checkpoint()
			if ctx.Err() != nil {
				return i, nil
			}
			return i, fmt.Errorf("deliver event %d: %w", ev.ID, err)
		}
		if i == len(events)-1 || events[i+1].Position != ev.Position {
			done = ev.Position
		}
	}
	if err := save(); err != nil {
		return len(events), err
	}
	f.batch(events)
	return len(events), nil
}
