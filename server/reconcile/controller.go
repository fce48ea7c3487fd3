package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/internal/group"
	"github.com/labrm/terraform-provider-lab/internal/wait"
	"github.com/labrm/terraform-provider-lab/server/images"
	"github.com/labrm/terraform-provider-lab/server/outbox"
	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// Config configures a Controller.
type Config struct {
	Store   *store.DB
	Engine  Engine
	Workers int // default 4
	// StartConcurrency bounds the workload starts running at once, off
	// the workers (starts.go); default 16.
	StartConcurrency int

	// Capacity is what labs may reserve in total. A zero field is read
	// from the engine (Engine.Capacity) each time Run starts.
	Capacity workload.Resources
	// AccessHost is the host name recorded in a lab's resource allocation
	// (default localhost). Access URLs come from the engine's status.
	AccessHost string
	PidsLimit  int64 // per workload; default 512

	// AccessURL is the URL students open to reach a lab (the gateway's),
	// recorded in status.access_url once a lab with an app runs; nil
	// records none.
	AccessURL func(api.Key) string
	// Probe checks that a lab's app answers (HTTPProbe by default), where
	// the engine does not say; ProbeTimeout bounds one (default 2s);
	// ReadyRecheck is how soon a lab whose app does not answer yet is
	// probed again (default 1s).
	Probe        Probe
	ProbeTimeout time.Duration
	ReadyRecheck time.Duration

	ProvisionTimeout time.Duration // PROVISIONING longer than this fails; default 5m
	StopTimeout      time.Duration // SIGTERM grace before SIGKILL; default 10s
	ProbeInterval    time.Duration // how often a RUNNING lab's workload is checked; default 10s
	ResyncPeriod     time.Duration // full re-enqueue; default 5m
	GCInterval       time.Duration // orphan-workload sweep; default 1m
	GCGrace          time.Duration // orphans younger than this are left alone; default 2m
	// CapacityInterval is how often the engine's capacity (where not
	// configured) and its largest workload are read again: a cluster's
	// nodes come and go. Default 30s.
	CapacityInterval time.Duration
	// WaitRecheck is how soon a lab whose admission could not be decided
	// (the ledger knows a newer version of it) is looked at again; default
	// 1s. A lab waiting in the capacity queue is not polled: the ledger
	// wakes it when its turn may have come.
	WaitRecheck  time.Duration
	DrainTimeout time.Duration // how long reconciles in flight may finish when the controller stops; default StopTimeout + 10s

	// EngineEvents, if set, tells the controller of workload changes
	// (exits, removals, or any change an engine that watches its
	// workloads sees) and of the engine's return after an outage as they
	// happen (hints: the controller stays level-based, probing every
	// ProbeInterval).
	EngineEvents <-chan workload.Event
	// Images, when it restricts, fails at admission a lab whose image it
	// does not allow (one created before the policy was tightened).
	Images *images.Policy

	Logger *slog.Logger
	Now    func() time.Time
	// Observer, if set, is told what the controller does (metrics).
	Observer Observer
}

// Observer is told what the controller does, for metrics.
type Observer interface {
	// Reconciled reports one reconcile: success, requeue, conflict or error.
	Reconciled(result string, d time.Duration)
	// QueueWait reports how long a key waited in the queue before a worker took it.
	QueueWait(d time.Duration)
	// FinalizerRun reports one run of the finalizer.
	FinalizerRun(ok bool)
}

type noObserver struct{}

func (noObserver) Reconciled(string, time.Duration) {}
func (noObserver) QueueWait(time.Duration)          {}
func (noObserver) FinalizerRun(bool)                {}

func (c *Config) setDefaults() {
	c.Workers = cmp.Or(c.Workers, 4)
	c.StartConcurrency = cmp.Or(c.StartConcurrency, DefaultStartConcurrency)
	c.AccessHost = cmp.Or(c.AccessHost, "localhost")
	c.PidsLimit = cmp.Or(c.PidsLimit, 512)
	c.ProvisionTimeout = cmp.Or(c.ProvisionTimeout, 5*time.Minute)
	c.ProbeTimeout = cmp.Or(c.ProbeTimeout, DefaultProbeTimeout)
	c.ReadyRecheck = cmp.Or(c.ReadyRecheck, time.Second)
	if c.Probe == nil {
		c.Probe = HTTPProbe
	}
	c.StopTimeout = cmp.Or(c.StopTimeout, 10*time.Second)
	c.ProbeInterval = cmp.Or(c.ProbeInterval, 10*time.Second)
	c.ResyncPeriod = cmp.Or(c.ResyncPeriod, 5*time.Minute)
	c.GCInterval = cmp.Or(c.GCInterval, time.Minute)
	c.GCGrace = cmp.Or(c.GCGrace, 2*time.Minute)
	c.CapacityInterval = cmp.Or(c.CapacityInterval, 30*time.Second)
	c.WaitRecheck = cmp.Or(c.WaitRecheck, time.Second)
	c.DrainTimeout = cmp.Or(c.DrainTimeout, c.StopTimeout+10*time.Second)
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Observer == nil {
		c.Observer = noObserver{}
	}
}

// DefaultStartConcurrency is how many workload starts run at once by
// default. Docker on a 2-core host starts containers at about the same
// rate from 16 parallel calls as from 50 (labbench's running scenario);
// fewer leave it idle between calls, many more only queue in the engine.
const DefaultStartConcurrency = 16

// Request names the lab to reconcile.
type Request struct{ Key api.Key }

// Result tells the worker when to look at the key again.
type Result struct {
	// Requeue: again now, ahead of the backlog (Queue.AddUrgent). The lab
	// has just moved one step and takes the next at once: an admitted lab
	// holds capacity, and a backlog of thousands of waiting labs must not
	// delay its start.
	Requeue      bool
	RequeueAfter time.Duration // again after this
}

// Controller makes each lab's workload match its spec and records what
// it sees in status. See doc.go.
type Controller struct {
	cfg Config

	mu           sync.Mutex
	queue        *Queue   // the current term's; nil while not leading
	starts       *starter // the current term's; nil while not leading
	epoch        atomic.Int64
	installation string // the store's id, on every workload's labels

	ledger      atomic.Pointer[ledger]             // the current term's admission ledger; nil while not leading
	seen        atomic.Pointer[seen]               // the current term's versions decided on (seen.go); nil while not leading
	places      atomic.Pointer[placeWriter]        // the current term's batched place writes (places.go); nil while not leading
	largest     atomic.Pointer[workload.Resources] // the most one workload can have, read each term
	finalizing  atomic.Int64
	lastFailure sync.Map // api.Key -> string: dedupes reconciliation.failed events
}

// New returns a controller; it works while Run runs.
func New(cfg Config) *Controller {
	cfg.setDefaults()
	return &Controller{cfg: cfg}
}

// resolveCapacity is the configured capacity, completed from the
// engine's where a field is not configured.
func (c *Controller) resolveCapacity(ctx context.Context) (workload.Resources, error) {
	r := c.cfg.Capacity
	if r.MilliCPU > 0 && r.MemoryBytes > 0 {
		return r, nil
	}
	engine, err := c.cfg.Engine.Capacity(ctx)
	if err != nil {
		return r, fmt.Errorf("read the engine's capacity (or configure the capacity): %w", err)
	}
	r.MilliCPU = cmp.Or(r.MilliCPU, engine.MilliCPU)
	r.MemoryBytes = cmp.Or(r.MemoryBytes, engine.MemoryBytes)
	if r.MilliCPU <= 0 || r.MemoryBytes <= 0 {
		// A cluster with no usable node: an outage, not a capacity of
		// zero, which would fail every waiting lab as too big.
		return r, fmt.Errorf("the engine offers no capacity (%s): no usable node? (or configure the capacity)", r)
	}
	return r, nil
}

// QueueDepth is the number of keys ready to be reconciled.
func (c *Controller) QueueDepth() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.queue == nil {
		return 0
	}
	return c.queue.Len()
}

// Finalizing is the number of finalizers running now.
func (c *Controller) Finalizing() int64 { return c.finalizing.Load() }

// errFenced stops Run when a write finds a newer leader term.
var errFenced = errors.New("fenced")

// Run reconciles under term until ctx ends or a write is fenced (a newer
// term exists), which it returns as an api.EFENCED error. Its parts (the
// outbox watcher, resync, garbage collector and workers) stop together:
// if one fails, Run returns its error.
func (c *Controller) Run(ctx context.Context, term store.Term) error {
	capacity, err := c.resolveCapacity(ctx)
	if err != nil {
		return err
	}
	largest, err := c.cfg.Engine.Largest(ctx)
	if err != nil {
		return fmt.Errorf("read the largest workload the engine can run: %w", err)
	}
	id, err := c.cfg.Store.InstallationID(ctx)
	if err != nil {
		return err
	}
	c.installation = id
	c.largest.Store(&largest)
	c.epoch.Store(term.Epoch)
	// The admission ledger, from the labs that wait or hold now; the
	// outbox stream keeps it current from here (see ledger.go).
	led := newLedger(capacity)
	rebuilt, err := c.resyncLedger(ctx, led)
	if err != nil {
		return err
	}
	if err := c.skipReplay(ctx, rebuilt); err != nil {
		if api.ErrorCode(err) == api.EFENCED {
			return err
		}
		return fmt.Errorf("skip the events the ledger reflects: %w", err)
	}
	led.recorded = store.Capacity{MilliCPU: capacity.MilliCPU, MemoryBytes: capacity.MemoryBytes,
		MaxMilliCPU: largest.MilliCPU, MaxMemoryBytes: largest.MemoryBytes, RecordedBy: term.Holder, RecordedAt: c.cfg.Now().UTC()}
	if err := c.cfg.Store.RecordCapacity(ctx, led.recorded, c.fence()); err != nil {
		if api.ErrorCode(err) == api.EFENCED {
			return api.Errorf(api.EFENCED, "controller stopped: a newer leader term exists")
		}
		return err
	}
	c.ledger.Store(led)
	defer c.ledger.Store(nil)
	decided := newSeen()
	c.seen.Store(decided)
	defer c.seen.Store(nil)
	q := NewQueue()
	q.OnGet = c.cfg.Observer.QueueWait
	c.mu.Lock()
	c.queue = q
	c.mu.Unlock()
	defer func() {
		q.ShutDown()
		c.mu.Lock()
		c.queue = nil
		c.mu.Unlock()
	}()

	// Below the retention floor the events in between are gone: relist
	// every lab, then continue from the floor.
	w := outbox.NewWatcher(c.cfg.Store, outbox.Config{
		Name: api.ControllerWatcher, Logger: c.cfg.Logger, PollInterval: 2 * time.Second,
		OnExpired: func(ctx context.Context, _ *outbox.ExpiredError) error {
			if _, err := c.resyncLedger(ctx, led); err != nil {
				return err
			}
			return c.enqueueAll(ctx, q, false)
		},
	}, func(ctx context.Context, tx *store.Tx, events []store.Event) error {
		labs := make([]*api.LabInstanceRequest, 0, len(events))
		deleted := make([]bool, 0, len(events))
		var pos int64
		for _, ev := range events {
			switch {
			case ev.Type == api.EventDeleted:
				decided.forget(ev.Key)
				q.Add(ev.Key)
			case api.WatchType(ev.Type) != "" && !decided.has(ev.Key, ev.Position):
				q.Add(ev.Key)
			}
			if ev.Object != nil {
				labs = append(labs, ev.Object)
				deleted = append(deleted, ev.Type == api.EventDeleted)
			}
			pos = max(pos, ev.Position)
		}
		c.wake(led.observeStream(labs, deleted, pos, c.cfg.Now()))
		return nil
	})

	g, gctx := group.New(ctx)
	g.Go("watcher", w.Run)
	places := newPlaceWriter(c, q)
	c.places.Store(places)
	defer c.places.Store(nil)
	g.Go("places", places.Run)
	g.Go("resync", func(ctx context.Context) error {
		return c.every(ctx, c.cfg.ResyncPeriod, func() error { return c.enqueueAll(ctx, q, false) })
	})
	if c.cfg.EngineEvents != nil {
		g.Go("engine events", func(ctx context.Context) error { return c.followEngine(ctx, q) })
	}
	g.Go("gc", func(ctx context.Context) error {
		return c.every(ctx, c.cfg.GCInterval, func() error { return c.collectGarbage(ctx) })
	})
	g.Go("capacity", func(ctx context.Context) error {
		for wait.Sleep(ctx, c.cfg.CapacityInterval) == nil {
			if err := c.refreshCapacity(ctx, led, term); err != nil {
				if api.ErrorCode(err) == api.EFENCED {
					return errFenced
				}
				if ctx.Err() == nil {
					c.cfg.Logger.Warn("read the engine's capacity again", "err", err)
				}
			}
		}
		return nil
	})
	// Reconciles in flight when the controller stops are drained: they
	// keep a context of their own for up to DrainTimeout, so that a
	// workload half-stopped is not left so. Leadership is released only
	// after Run returns, and a newer term fences their writes anyway.
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(gctx))
	defer stopWork()
	starts := newStarter(gctx, workCtx, c.cfg.StartConcurrency)
	c.mu.Lock()
	c.starts = starts
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.starts = nil
		c.mu.Unlock()
	}()
	var workers sync.WaitGroup
	for range c.cfg.Workers {
		workers.Add(1)
		g.Go("worker", func(context.Context) error {
			defer workers.Done()
			return c.work(workCtx, q)
		})
	}
	g.Go("drain", func(ctx context.Context) error {
		<-ctx.Done()
		q.ShutDown()
		drained := make(chan struct{})
		go func() { workers.Wait(); starts.wait(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(c.cfg.DrainTimeout):
			c.cfg.Logger.Warn("reconciles still running at the drain deadline; cancelling them", "drain_timeout", c.cfg.DrainTimeout)
			stopWork()
		}
		return nil
	})
	c.cfg.Logger.Info("controller started", "epoch", term.Epoch, "workers", c.cfg.Workers, "capacity", capacity.String())
	if err := g.Wait(); errors.Is(err, errFenced) {
		return api.Errorf(api.EFENCED, "controller stopped: a newer leader term exists")
	} else if err != nil {
		return err
	}
	return nil
}

// every runs fn now and then every d until ctx ends; errors are logged.
func (c *Controller) every(ctx context.Context, d time.Duration, fn func() error) error {
	for {
		if err := fn(); err != nil && ctx.Err() == nil {
			c.cfg.Logger.Warn("periodic controller task", "err", err)
		}
		if wait.Sleep(ctx, d) != nil {
			return nil
		}
	}
}

// enqueueAll queues every unsettled lab (all but those that ended and are
// not being deleted): the resync that catches anything a lost event or a
// crash made the controller miss. An ended lab whose workload is still
// there is found by the garbage collector instead (collectGarbage), so
// that a resync costs nothing for the thousands of labs that ended. With
// forget, their backoff is cleared too (the failure they backed off from
// is over).
func (c *Controller) enqueueAll(ctx context.Context, q *Queue, forget bool) error {
	var after api.Key
	for {
		keys, err := c.cfg.Store.ListKeys(ctx, store.KeyOptions{After: after, Limit: store.MaxListLimit, Unsettled: true})
		if err != nil {
			return fmt.Errorf("resync: %w", err)
		}
		for _, k := range keys {
			if forget {
				q.Forget(k)
			}
			q.Add(k)
		}
		if len(keys) < store.MaxListLimit {
			return nil
		}
		after = keys[len(keys)-1]
	}
}

// wake queues the labs the ledger says should look at the capacity queue
// again.
func (c *Controller) wake(keys []api.Key) {
	if len(keys) == 0 {
		return
	}
	q := c.currentQueue()
	if q == nil {
		return
	}
	// The head first, at once: it may fit now. The others are woken to
	// refresh the place their condition states; a second later, and once
	// however often they are woken meanwhile (the queue coalesces delayed
	// keys), so that a queue draining fast costs a few condition writes a
	// second, not a few per lab admitted.
	q.AddUrgent(keys[0])
	for _, k := range keys[1:] {
		q.AddAfter(k, positionRefresh)
	}
}

// positionRefresh is how long a lab woken to refresh its place in the
// capacity queue waits (wake).
const positionRefresh = time.Second

// resyncLedger lists the labs that wait for capacity or hold it and
// reconciles the ledger with them (ledger.resync).
// It returns the position the ledger reflects every change up to.
func (c *Controller) resyncLedger(ctx context.Context, led *ledger) (int64, error) {
	var labs []*api.LabInstanceRequest
	pos := int64(-1)
	for _, p := range []api.Phase{api.PhasePending, api.PhaseProvisioning, api.PhaseRunning, api.PhaseTimeout} {
		page, first, err := c.listPhase(ctx, p)
		if err != nil {
			return 0, fmt.Errorf("build the admission ledger: %w", err)
		}
		labs = append(labs, page...)
		if pos < 0 || first < pos {
			pos = first
		}
	}
	c.wake(led.resync(labs, pos, c.cfg.Now()))
	return pos, nil
}

// skipReplay moves the controller watcher's bookmark up to pos, the
// position the rebuilt ledger reflects, when it is behind: the ledger
// holds every change up to there, and the term's first resync queues
// every unsettled lab, so replaying those events would decide nothing
// new (an ended lab's leftover workload is the garbage collector's to
// find). With 100,000 labs created while no leader ran, decoding their
// events was a fifth of the new leader's first minute.
func (c *Controller) skipReplay(ctx context.Context, pos int64) error {
	return c.cfg.Store.InTx(ctx, func(tx *store.Tx) error {
		cur, err := tx.LockBookmark(ctx, api.ControllerWatcher, pos)
		if err != nil || cur >= pos {
			return err
		}
		if err := tx.SetBookmark(ctx, api.ControllerWatcher, pos); err != nil {
			return err
		}
		return tx.CheckFence(ctx, c.epoch.Load())
	})
}

func (c *Controller) work(ctx context.Context, q *Queue) error {
	for {
		key, ok := q.Get()
		if !ok {
			return nil
		}
		res, err := c.reconcileSafely(ctx, key)
		switch {
		case api.ErrorCode(err) == api.EFENCED:
			q.Done(key)
			return errFenced
		case api.IsConflict(err):
			// The lab changed under us: decide again on the new version,
			// after a backoff that grows while the conflict persists (a
			// rule the write breaks is a conflict too), never in a hot
			// loop. A success forgets it.
			q.AddRateLimited(key)
		case err != nil:
			if ctx.Err() == nil {
				c.cfg.Logger.Warn("reconcile failed", "lab", key.String(), "err", err, "failures", q.Failures(key)+1)
				c.recordFailure(ctx, key, err)
				q.AddRateLimited(key)
			}
		default:
			q.Forget(key)
			c.lastFailure.Delete(key)
			if res.Requeue {
				c.settleSeen(key)
				q.AddUrgent(key)
			} else if res.RequeueAfter > 0 {
				q.AddAfter(key, res.RequeueAfter)
			}
		}
		if s := c.seen.Load(); s != nil {
			s.done(key)
		}
		q.Done(key)
	}
}

// settleSeen marks what the reconcile in progress for key wrote as
// decided on: its outbox event need not queue the lab (seen.go).
func (c *Controller) settleSeen(key api.Key) {
	if s := c.seen.Load(); s != nil {
		s.settle(key)
	}
}

func (c *Controller) reconcileSafely(ctx context.Context, key api.Key) (res Result, err error) {
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			c.cfg.Logger.Error("reconcile panicked", "lab", key.String(), "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("reconcile panicked: %v", r)
		}
		result := "success"
		switch {
		case err != nil && api.IsConflict(err):
			result = "conflict"
		case err != nil:
			result = "error"
		case res.Requeue || res.RequeueAfter > 0:
			result = "requeue"
		}
		c.cfg.Observer.Reconciled(result, time.Since(start))
	}()
	return c.Reconcile(ctx, Request{Key: key})
}

// recordFailure writes a reconciliation.failed event, once per distinct
// error of a lab, so a lab stuck in backoff does not flood the outbox.
func (c *Controller) recordFailure(ctx context.Context, key api.Key, err error) {
	msg := err.Error()
	if prev, ok := c.lastFailure.Load(key); ok && prev == msg {
		return
	}
	lab, gerr := c.cfg.Store.GetLab(ctx, key)
	if gerr != nil {
		return
	}
	eventType := api.EventReconcileFailed
	if lab.Metadata.DeletionTimestamp != nil {
		eventType = api.EventFinalizeFailed
		if aerr := c.cfg.Store.InTx(ctx, func(tx *store.Tx) error { return tx.AddCounter(ctx, counterFinalizersFailed, 1) }); aerr != nil {
			c.cfg.Logger.Warn("count finalizer failure", "err", aerr)
		}
	}
	if werr := c.cfg.Store.AppendEvent(ctx, lab, eventType, msg, c.fence()); werr == nil {
		c.lastFailure.Store(key, msg)
	}
}

// Counter names kept in the store.
const (
	counterFinalizersCompleted = "finalizers_completed"
	counterFinalizersFailed    = "finalizers_failed"
)

func (c *Controller) fence() store.WriteOptions { return store.WriteOptions{Fence: c.epoch.Load()} }

// Epoch is the leader epoch the controller writes under (0 when idle).
func (c *Controller) Epoch() int64 { return c.epoch.Load() }

// listPhase lists every lab in a phase, page by page, and the position of
// the first page (every change after it is in the outbox stream).
func (c *Controller) listPhase(ctx context.Context, phase api.Phase) ([]*api.LabInstanceRequest, int64, error) {
	var out []*api.LabInstanceRequest
	first := int64(-1)
	opts := store.ListOptions{Phase: phase, Limit: store.MaxListLimit}
	for {
		list, err := c.cfg.Store.ListLabs(ctx, opts)
		if err != nil {
			return nil, 0, err
		}
		if first < 0 {
			first = list.Metadata.ResourceVersion
		}
		for i := range list.Items {
			out = append(out, &list.Items[i])
		}
		if list.Metadata.Continue == "" {
			return out, first, nil
		}
		opts.Continue = list.Metadata.Continue
	}
}

// currentQueue is the work queue of the running term, or nil.
func (c *Controller) currentQueue() *Queue {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queue
}

// collectGarbage removes this installation's workloads whose lab no longer
// exists (or is a different lab of the same name), once they are older
// than the grace period: an engine can create a workload and still fail
// the call, and a crash can come between create and record. A workload
// whose lab ended is its lab's clean-up's business: the lab is queued.
func (c *Controller) collectGarbage(ctx context.Context) error {
	all, err := c.cfg.Engine.List(ctx)
	if err != nil {
		return fmt.Errorf("list workloads: %w", err)
	}
	now := c.cfg.Now()
	for _, w := range all {
		if !workload.Ours(w.Labels, c.installation) || now.Sub(w.Created) < c.cfg.GCGrace {
			continue // another installation's, or maybe still being recorded
		}
		key := api.Key{Namespace: w.Labels[workload.LabelNamespace], Name: w.Labels[workload.LabelName]}
		lab, err := c.cfg.Store.GetLab(ctx, key)
		switch {
		case err != nil && !api.IsNotFound(err):
			return err
		case err == nil && lab.Metadata.UID == w.Labels[workload.LabelResourceUID]:
			if lab.Status.Phase == api.PhaseCompleted || lab.Status.Phase == api.PhaseFailed {
				// Its clean-up was missed (a crash, an engine that was
				// away) and the resync skips ended labs: queue it.
				if q := c.currentQueue(); q != nil {
					q.Add(key)
				}
			}
			continue
		}
		c.cfg.Logger.Info("removing orphaned workload", "workload", w.Name, "lab", key.String(), "uid", w.Labels[workload.LabelResourceUID])
		if err := c.cfg.Engine.Remove(ctx, w.Name); err != nil {
			c.cfg.Logger.Warn("remove orphaned workload", "workload", w.Name, "err", err)
		}
	}
	return nil
}
