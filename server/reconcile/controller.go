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
	"github.com/labrm/terraform-provider-lab/server/outbox"
	"github.com/labrm/terraform-provider-lab/server/runtime"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// Config configures a Controller.
type Config struct {
	Store   *store.DB
	Runtime runtime.Runtime
	Workers int // default 4

	// Capacity is what labs may reserve on this host in total.
	Capacity Resources
	// AccessHost is the host name put in access URLs (default localhost).
	AccessHost string
	PidsLimit  int64 // per container; default 512

	ProvisionTimeout time.Duration // PROVISIONING longer than this fails; default 5m
	StopTimeout      time.Duration // SIGTERM grace before SIGKILL; default 10s
	ProbeInterval    time.Duration // how often a RUNNING lab's container is checked; default 10s
	ResyncPeriod     time.Duration // full re-enqueue; default 5m
	GCInterval       time.Duration // orphan-container sweep; default 1m
	GCGrace          time.Duration // orphans younger than this are left alone; default 2m
	WaitRecheck      time.Duration // a lab waiting for capacity is looked at again after this; default 30s
	DrainTimeout     time.Duration // how long reconciles in flight may finish when the controller stops; default StopTimeout + 10s

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
	c.AccessHost = cmp.Or(c.AccessHost, "localhost")
	c.PidsLimit = cmp.Or(c.PidsLimit, 512)
	c.ProvisionTimeout = cmp.Or(c.ProvisionTimeout, 5*time.Minute)
	c.StopTimeout = cmp.Or(c.StopTimeout, 10*time.Second)
	c.ProbeInterval = cmp.Or(c.ProbeInterval, 10*time.Second)
	c.ResyncPeriod = cmp.Or(c.ResyncPeriod, 5*time.Minute)
	c.GCInterval = cmp.Or(c.GCInterval, time.Minute)
	c.GCGrace = cmp.Or(c.GCGrace, 2*time.Minute)
	c.WaitRecheck = cmp.Or(c.WaitRecheck, 30*time.Second)
	c.DrainTimeout = cmp.Or(c.DrainTimeout, c.StopTimeout+10*time.Second)
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Observer == nil {
		c.Observer = noObserver{}
	}
}

// Request names the lab to reconcile.
type Request struct{ Key api.Key }

// Result tells the worker when to look at the key again.
type Result struct {
	Requeue      bool          // again now
	RequeueAfter time.Duration // again after this
}

// Controller makes each lab's container match its spec and records what
// it sees in status. See doc.go.
type Controller struct {
	cfg Config

	mu           sync.Mutex
	queue        *Queue // the current term's; nil while not leading
	epoch        atomic.Int64
	installation string // the store's id, on every container's labels

	admitMu     sync.Mutex // admission reads capacity and writes as one step
	finalizing  atomic.Int64
	lastFailure sync.Map // api.Key -> string: dedupes reconciliation.failed events
}

// New returns a controller; it works while Run runs.
func New(cfg Config) *Controller {
	cfg.setDefaults()
	return &Controller{cfg: cfg}
}

// SetCapacity sets the host capacity labs are admitted against; call it
// before Run (labd learns it from the Docker engine when leadership starts).
func (c *Controller) SetCapacity(r Resources) {
	c.admitMu.Lock()
	defer c.admitMu.Unlock()
	c.cfg.Capacity = r
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
// term exists), which it returns as an api.EFENCED error.
func (c *Controller) Run(ctx context.Context, term store.Term) error {
	id, err := c.cfg.Store.InstallationID(ctx)
	if err != nil {
		return err
	}
	c.installation = id
	c.epoch.Store(term.Epoch)
	q := NewQueue()
	q.OnGet = c.cfg.Observer.QueueWait
	c.mu.Lock()
	c.queue = q
	c.mu.Unlock()
	ctx, cancel := context.WithCancelCause(ctx)
	defer func() {
		cancel(nil)
		q.ShutDown()
		c.mu.Lock()
		c.queue = nil
		c.mu.Unlock()
	}()

	// Below the retention floor the events in between are gone: relist
	// every lab, then continue from the floor.
	w := outbox.NewWatcher(c.cfg.Store, outbox.Config{
		Name: api.ControllerWatcher, Logger: c.cfg.Logger, PollInterval: 2 * time.Second,
		OnExpired: func(ctx context.Context, _ *outbox.ExpiredError) error { return c.enqueueAll(ctx, q) },
	}, func(ctx context.Context, tx *store.Tx, events []store.Event) error {
		for _, ev := range events {
			if api.WatchType(ev.Type) != "" {
				q.Add(ev.Key)
			}
		}
		return nil
	})

	var wg sync.WaitGroup
	spawn := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				c.cfg.Logger.Error("controller part failed", "part", name, "err", err)
				cancel(err)
			}
		}()
	}
	spawn("watcher", w.Run)
	spawn("resync", func(ctx context.Context) error {
		return c.every(ctx, c.cfg.ResyncPeriod, func() error { return c.enqueueAll(ctx, q) })
	})
	spawn("gc", func(ctx context.Context) error {
		return c.every(ctx, c.cfg.GCInterval, func() error { return c.collectGarbage(ctx) })
	})
	// Reconciles in flight when the controller stops are drained: they
	// keep a context of their own for up to DrainTimeout, so that a
	// container half-stopped is not left so. Leadership is released only
	// after Run returns, and a newer term fences their writes anyway.
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var workers sync.WaitGroup
	for range c.cfg.Workers {
		workers.Add(1)
		spawn("worker", func(context.Context) error {
			defer workers.Done()
			return c.work(workCtx, q)
		})
	}
	go func() {
		<-ctx.Done()
		q.ShutDown()
		drained := make(chan struct{})
		go func() { workers.Wait(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(c.cfg.DrainTimeout):
			c.cfg.Logger.Warn("reconciles still running at the drain deadline; cancelling them", "drain_timeout", c.cfg.DrainTimeout)
			stopWork()
		}
	}()
	c.cfg.Logger.Info("controller started", "epoch", term.Epoch, "workers", c.cfg.Workers)
	wg.Wait()
	if err := context.Cause(ctx); errors.Is(err, errFenced) {
		return api.Errorf(api.EFENCED, "controller stopped: a newer leader term exists")
	}
	return nil
}

// every runs fn now and then every d until ctx ends; errors are logged.
func (c *Controller) every(ctx context.Context, d time.Duration, fn func() error) error {
	for {
		if err := fn(); err != nil && ctx.Err() == nil {
			c.cfg.Logger.Warn("periodic controller task", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d):
		}
	}
}

// enqueueAll queues every lab: the resync that catches anything a lost
// event or a crash made the controller miss.
func (c *Controller) enqueueAll(ctx context.Context, q *Queue) error {
	opts := store.ListOptions{Limit: store.MaxListLimit}
	for {
		list, err := c.cfg.Store.ListLabs(ctx, opts)
		if err != nil {
			return fmt.Errorf("resync: %w", err)
		}
		for i := range list.Items {
			q.Add(list.Items[i].Key())
		}
		if list.Metadata.Continue == "" {
			return nil
		}
		opts.Continue = list.Metadata.Continue
	}
}

// enqueuePending queues the labs waiting to start, after capacity was
// released.
func (c *Controller) enqueuePending(ctx context.Context) {
	c.mu.Lock()
	q := c.queue
	c.mu.Unlock()
	if q == nil {
		return
	}
	labs, err := c.listPhase(ctx, api.PhasePending)
	if err != nil {
		c.cfg.Logger.Warn("queue pending labs", "err", err)
		return
	}
	for _, l := range labs {
		q.Add(l.Key())
	}
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
			// The lab changed under us: decide again on the new version.
			q.Done(key)
			q.Add(key)
			continue
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
				q.Add(key)
			} else if res.RequeueAfter > 0 {
				q.AddAfter(key, res.RequeueAfter)
			}
		}
		q.Done(key)
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

func (c *Controller) listPhase(ctx context.Context, phase api.Phase) ([]*api.LabInstanceRequest, error) {
	var out []*api.LabInstanceRequest
	opts := store.ListOptions{Phase: phase, Limit: store.MaxListLimit}
	for {
		list, err := c.cfg.Store.ListLabs(ctx, opts)
		if err != nil {
			return nil, err
		}
		for i := range list.Items {
			out = append(out, &list.Items[i])
		}
		if list.Metadata.Continue == "" {
			return out, nil
		}
		opts.Continue = list.Metadata.Continue
	}
}

// collectGarbage removes containers labelled as this installation's whose lab no longer
// exists (or is a different lab of the same name), once they are older
// than the grace period: Docker can create a container and still fail the
// call, and a crash can come between create and record.
func (c *Controller) collectGarbage(ctx context.Context) error {
	ctrs, err := c.cfg.Runtime.List(ctx)
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	now := c.cfg.Now()
	for _, ctr := range ctrs {
		if ctr.Labels[runtime.LabelInstallation] != c.installation || now.Sub(ctr.Created) < c.cfg.GCGrace {
			continue // another installation's, or maybe still being recorded
		}
		key := api.Key{Namespace: ctr.Labels[runtime.LabelNamespace], Name: ctr.Labels[runtime.LabelName]}
		lab, err := c.cfg.Store.GetLab(ctx, key)
		switch {
		case err != nil && !api.IsNotFound(err):
			return err
		case err == nil && lab.Metadata.UID == ctr.Labels[runtime.LabelResourceUID]:
			continue
		}
		c.cfg.Logger.Info("removing orphaned container", "container", ctr.Name, "lab", key.String(), "uid", ctr.Labels[runtime.LabelResourceUID])
		if err := c.cfg.Runtime.Remove(ctx, ctr.Name); err != nil {
			c.cfg.Logger.Warn("remove orphaned container", "container", ctr.Name, "err", err)
		}
	}
	return nil
}
