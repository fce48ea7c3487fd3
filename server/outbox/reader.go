package outbox

import (
	"context"

	"github.com/labrm/terraform-provider-lab/server/store"
)

// ReadFunc handles one batch of events outside any transaction. An error
// ends Run, which returns it; the position stays before the batch.
type ReadFunc func(ctx context.Context, events []store.Event) error

// NewReader returns a follower without a bookmark: it starts after from
// and keeps its position in memory (Position), where the caller (a watch
// stream, whose client holds the position) continues. The position moves
// past a batch once h has handled it. Errors end Run; below the floor,
// without OnExpired, Run ends with an *ExpiredError. cfg.Name is only used
// in logs; without cfg.Notify it polls.
func NewReader(src Source, from int64, cfg Config, h ReadFunc) *Follower {
	f := newFollower(cfg, true)
	f.pos.Store(from)
	f.step = func(ctx context.Context) (int, error) { return f.stepRead(ctx, src, h) }
	return f
}

func (f *Follower) stepRead(ctx context.Context, src Source, h ReadFunc) (int, error) {
	pos := f.Position()
	events, err := src.ReadEvents(ctx, pos, f.cfg.BatchSize)
	if err != nil {
		return 0, err
	}
	// The floor is read after the events: a prune that passed pos before
	// the read shows here, and the batch, which may lack what it pruned,
	// is dropped. (Read before, a prune in between would go unseen.)
	floor, current, err := src.EventBounds(ctx)
	if err != nil {
		return 0, err
	}
	if pos < floor {
		return f.expired(ctx, &ExpiredError{Position: pos, Floor: floor}, func(_ context.Context, floor int64) error {
			f.advanced(floor)
			return nil
		})
	}
	if len(events) == 0 {
		if current > pos {
			return -1, nil
		}
		return 0, nil
	}
	if err := h(ctx, events); err != nil {
		return 0, err
	}
	f.advanced(events[len(events)-1].Position)
	f.batch(events)
	return len(events), nil
}
