package reconcile

import (
	"context"
	"sync"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// starter runs workload starts (Engine.Ensure) off the workers, up to
// Config.StartConcurrency at once. A start takes the engine a second or
// more (create, then start); done on a worker, it held that worker for as
// long, so with the default four workers a class of labs reached RUNNING
// four at a time while the engine could have started many more in
// parallel. Now the worker that finds a lab to provision hands the start
// over and moves on; when the start ends, the lab is queued again and its
// next reconcile sees the workload running (Inspect), or picks up the
// start's error here.
//
// It is level-based like the rest: only a failed start leaves a result,
// for the next reconcile of that lab to act on (a permanent failure fails
// the lab, another is retried with backoff); a start that succeeded is
// seen by Inspect, and one that was lost (the controller stopped) is
// simply begun again.
type starter struct {
	ctx  context.Context // the term's work context: bounds starts running
	stop context.Context // ends when the term does: no new start begins
	sem  chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	inflight map[string]bool        // uid
	results  map[string]startResult // uid: finished, not yet seen by a reconcile
}

type startResult struct {
	st  workload.Status
	err error
}

func newStarter(stop, ctx context.Context, concurrency int) *starter {
	return &starter{stop: stop, ctx: ctx, sem: make(chan struct{}, concurrency), inflight: map[string]bool{}, results: map[string]startResult{}}
}

// take returns the result of a finished start of uid, once.
func (s *starter) take(uid string) (startResult, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.results[uid]
	delete(s.results, uid)
	return r, ok
}

// begin starts spec for the lab key (uid) unless a start of it is running,
// and calls done when it ends.
func (s *starter) begin(e Engine, key api.Key, uid string, spec workload.Spec, done func(api.Key)) {
	s.mu.Lock()
	if s.inflight[uid] {
		s.mu.Unlock()
		return
	}
	s.inflight[uid] = true
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		var r startResult
		select {
		case s.sem <- struct{}{}:
			r.st, r.err = e.Ensure(s.ctx, spec)
			<-s.sem
		case <-s.stop.Done():
			r.err = s.stop.Err()
		}
		s.mu.Lock()
		delete(s.inflight, uid)
		if r.err != nil {
			s.results[uid] = r
		}
		s.mu.Unlock()
		done(key)
	}()
}

// busy reports whether a start of uid is in flight.
func (s *starter) busy(uid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflight[uid]
}

// starting reports whether the term's starter is starting the workload of
// the lab with uid.
func (c *Controller) starting(uid string) bool {
	c.mu.Lock()
	s := c.starts
	c.mu.Unlock()
	return s != nil && s.busy(uid)
}

// wait waits for the starts in flight.
func (s *starter) wait() { s.wg.Wait() }

// ensure is Engine.Ensure for a lab being provisioned, through the term's
// starter: ok is false while the start runs (its end queues the lab
// again). Without a running controller (a test calling Reconcile) it
// starts in place.
func (c *Controller) ensure(ctx context.Context, lab *api.LabInstanceRequest) (st workload.Status, ok bool, err error) {
	c.mu.Lock()
	s, q := c.starts, c.queue
	c.mu.Unlock()
	if s == nil || q == nil {
		st, err = c.cfg.Engine.Ensure(ctx, c.workloadSpec(lab))
		return st, true, err
	}
	if r, done := s.take(lab.Metadata.UID); done {
		return r.st, true, r.err
	}
	s.begin(c.cfg.Engine, lab.Key(), lab.Metadata.UID, c.workloadSpec(lab), q.AddUrgent)
	return st, false, nil
}
