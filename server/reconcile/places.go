package reconcile

import (
	"context"
	"errors"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// placeWriter writes the Scheduled condition of labs waiting for capacity
// (their place in the queue) in batches, off the workers. A backlog of
// 100,000 labs gives each one such write when a term starts: one
// statement per lab was most of the controller's work while the labs at
// the head waited for theirs. A batch is what has gathered while the
// previous one was written (at most maxPlaceBatch), so a lone write is
// not delayed.
//
// A write is conditional on the version its reconcile read, as any
// controller write: a lab that changed meanwhile is left out, and its
// change queues it again. A fenced batch stops the controller.
type placeWriter struct {
	c    *Controller
	ch   chan placeWrite
	q    *Queue
	done chan struct{} // closed when Run returns
}

type placeWrite struct {
	lab  *api.LabInstanceRequest
	cond api.Condition
	now  time.Time
}

// maxPlaceBatch bounds a batch of place writes.
const maxPlaceBatch = 500

func newPlaceWriter(c *Controller, q *Queue) *placeWriter {
	return &placeWriter{c: c, ch: make(chan placeWrite, maxPlaceBatch), q: q, done: make(chan struct{})}
}

// add hands a write over; it waits while a full batch is pending.
func (w *placeWriter) add(ctx context.Context, p placeWrite) error {
	select {
	case w.ch <- p:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-w.done:
		return errors.New("the controller is stopping")
	}
}

// Run writes batches until ctx ends or a batch is fenced.
func (w *placeWriter) Run(ctx context.Context) error {
	defer close(w.done)
	batch := make([]placeWrite, 0, maxPlaceBatch)
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			return nil
		case p := <-w.ch:
			batch = append(batch, p)
		}
	gather:
		for len(batch) < maxPlaceBatch {
			select {
			case p := <-w.ch:
				batch = append(batch, p)
			default:
				break gather
			}
		}
		if err := w.write(ctx, batch); err != nil {
			if api.ErrorCode(err) == api.EFENCED {
				return errFenced
			}
			if ctx.Err() != nil {
				return nil
			}
			w.c.cfg.Logger.Warn("write the places of waiting labs", "labs", len(batch), "err", err)
			for _, p := range batch {
				w.q.AddRateLimited(p.lab.Key())
			}
		}
	}
}

func (w *placeWriter) write(ctx context.Context, batch []placeWrite) error {
	ups := make([]store.LabUpdate, len(batch))
	for i, p := range batch {
		ups[i] = store.LabUpdate{Cur: p.lab, Mutate: w.c.mutator(p.lab, func(x *api.LabInstanceRequest) error {
			x.SetCondition(p.cond, p.now)
			return nil
		})}
	}
	out, err := w.c.cfg.Store.UpdateLabsAt(ctx, w.c.epoch.Load(), api.EventReconciled, "", ups)
	if err != nil {
		return err
	}
	s := w.c.seen.Load()
	for i, o := range out {
		if o == nil || o.Metadata.ResourceVersion == batch[i].lab.Metadata.ResourceVersion {
			continue
		}
		w.c.settle(o)
		if s != nil {
			s.read(o.Key(), o.Metadata.ResourceVersion) // nothing to do until the ledger wakes it
		}
	}
	return nil
}
