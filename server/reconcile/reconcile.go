package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// Reconcile reads the lab and its workload, decides with plan, and
// carries the decision out. It is level-based: it acts on what is, not on
// which event woke it, so running it again is always safe.
func (c *Controller) Reconcile(ctx context.Context, req Request) (Result, error) {
	lab, err := c.cfg.Store.GetLab(ctx, req.Key)
	if api.IsNotFound(err) {
		return Result{}, nil // gone; the GC removes any container left behind
	}
	if err != nil {
		return Result{}, err
	}
	var ctr *workload.Status
	if lab.Status.Phase != api.PhasePending || lab.Metadata.DeletionTimestamp != nil {
		st, err := c.cfg.Engine.Inspect(ctx, workload.Name(lab.Metadata.UID))
		switch {
		case err == nil:
			ctr = &st
		case !errors.Is(err, workload.ErrNotFound):
			return Result{}, fmt.Errorf("inspect container: %w", err)
		}
	}
	now := c.cfg.Now()
	act := plan(lab, ctr, now, planConfig{ProvisionTimeout: c.cfg.ProvisionTimeout, ProbeInterval: c.cfg.ProbeInterval})
	c.cfg.Logger.Debug("reconcile", "lab", req.Key.String(), "phase", lab.Status.Phase, "step", act.step.String())

	switch act.step {
	case stepAddFinalizer:
		return Result{Requeue: true}, c.write(ctx, lab, "", func(x *api.LabInstanceRequest) error {
			x.Metadata.AddFinalizer(api.Finalizer)
			return nil
		})
	case stepFinalize:
		return Result{}, c.finalize(ctx, lab)
	case stepWait:
		return Result{RequeueAfter: act.requeueAfter}, c.write(ctx, lab, "", func(x *api.LabInstanceRequest) error {
			x.SetCondition(api.Condition{Type: api.ConditionScheduled, Status: api.ConditionFalse, Reason: act.reason, Message: act.message}, now)
			return nil
		})
	case stepAdmit:
		return c.admit(ctx, lab, act, now)
	case stepProvision:
		return c.provision(ctx, lab, act, now)
	case stepRunning:
		return Result{Requeue: true}, c.markRunning(ctx, lab, *ctr, act.reason, now)
	case stepComplete:
		return Result{}, c.finish(ctx, lab, api.PhaseCompleted, act, ctr, now)
	case stepFail:
		if ctr != nil && ctr.State == workload.Running {
			if err := c.cfg.Engine.Stop(ctx, ctr.Name, c.cfg.StopTimeout); err != nil {
				return Result{}, fmt.Errorf("stop container: %w", err)
			}
		}
		return Result{}, c.finish(ctx, lab, api.PhaseFailed, act, ctr, now)
	case stepTimeout:
		return Result{Requeue: true}, c.write(ctx, lab, act.message, func(x *api.LabInstanceRequest) error {
			return x.Transition(api.PhaseTimeout, act.reason, act.message, now)
		})
	case stepStop:
		return c.stop(ctx, lab, act, now)
	case stepCleanup:
		if ctr != nil && ctr.State == workload.Running {
			if err := c.cfg.Engine.Stop(ctx, ctr.Name, c.cfg.StopTimeout); err != nil {
				return Result{}, fmt.Errorf("stop container: %w", err)
			}
		}
		err := c.write(ctx, lab, "", func(x *api.LabInstanceRequest) error {
			x.Status.ResourceAllocation = nil
			return nil
		})
		if err == nil {
			c.enqueuePending(ctx)
		}
		return Result{}, err
	}
	// Nothing to do but record that this generation has been seen.
	if lab.Status.ObservedGeneration != lab.Metadata.Generation {
		if err := c.write(ctx, lab, "", func(*api.LabInstanceRequest) error { return nil }); err != nil {
			return Result{}, err
		}
	}
	return Result{RequeueAfter: act.requeueAfter}, nil
}

// write applies mutate to the version of lab that the decision was made
// on (a newer version is a conflict: decide again), records the
// generation observed, and, if anything changed, writes a reconciled
// event in the same transaction. Both are fenced by the leader epoch.
func (c *Controller) write(ctx context.Context, lab *api.LabInstanceRequest, message string, mutate store.Mutator) error {
	seen := lab.Metadata.Generation
	opts := store.WriteOptions{ExpectedVersion: lab.Metadata.ResourceVersion, Fence: c.epoch.Load()}
	return c.cfg.Store.InTx(ctx, func(tx *store.Tx) error {
		out, err := tx.UpdateLab(ctx, lab.Key(), opts, func(x *api.LabInstanceRequest) error {
			if err := mutate(x); err != nil {
				return err
			}
			x.Status.ObservedGeneration = seen
			return nil
		})
		if err != nil || out.Metadata.ResourceVersion == lab.Metadata.ResourceVersion {
			return err
		}
		if message == "" {
			message = string(out.Status.Phase)
		}
		return tx.AppendEvent(ctx, out, api.EventReconciled, message, opts)
	})
}

// admit moves a PENDING lab to PROVISIONING if the host has room for it,
// first come first served. Reading the capacity and writing the decision
// happen under one lock, and only the leader admits, so two labs cannot
// both take the last slot.
func (c *Controller) admit(ctx context.Context, lab *api.LabInstanceRequest, act action, now time.Time) (Result, error) {
	c.admitMu.Lock()
	defer c.admitMu.Unlock()
	view, err := c.capacityView(ctx, now)
	if err != nil {
		return Result{}, err
	}
	// The lab itself is among the waiting: its own start time has come.
	if !slices.ContainsFunc(view.Waiting, func(w *api.LabInstanceRequest) bool { return w.Metadata.UID == lab.Metadata.UID }) {
		view.Waiting = append(view.Waiting, lab)
		eligibleOrder(view.Waiting)
	}
	dec := admit(lab, view)
	switch {
	case dec.never:
		return Result{}, c.finish(ctx, lab, api.PhaseFailed, action{reason: "InsufficientCapacity", message: "the lab " + dec.message}, nil, now)
	case !dec.admit:
		return Result{RequeueAfter: c.cfg.WaitRecheck}, c.write(ctx, lab, "", func(x *api.LabInstanceRequest) error {
			x.SetCondition(api.Condition{Type: api.ConditionScheduled, Status: api.ConditionFalse, Reason: "InsufficientCapacity", Message: dec.message}, now)
			return nil
		})
	}
	need := request(lab)
	err = c.write(ctx, lab, dec.message, func(x *api.LabInstanceRequest) error {
		if err := x.Transition(api.PhaseProvisioning, act.reason, dec.message, now); err != nil {
			return err
		}
		x.Status.ResourceAllocation = api.StringMap{
			"cpu":    api.FormatCPU(need.MilliCPU),
			"memory": api.FormatMemory(need.MemoryBytes),
			"host":   c.cfg.AccessHost,
		}
		delete(x.Metadata.Annotations, api.AnnotationStartRequested)
		return nil
	})
	if err == nil {
		c.wakeNext(view, lab)
	}
	return Result{Requeue: true}, err
}

// wakeNext queues the lab after lab in the waiting order: it may have been
// told to wait because lab was ahead of it, and would otherwise look again
// only after WaitRecheck, with capacity free. (A stopgap: the admission
// ledger replaces this whole path.)
func (c *Controller) wakeNext(view capacityView, lab *api.LabInstanceRequest) {
	c.mu.Lock()
	q := c.queue
	c.mu.Unlock()
	i := slices.IndexFunc(view.Waiting, func(w *api.LabInstanceRequest) bool { return w.Metadata.UID == lab.Metadata.UID })
	if q != nil && i >= 0 && i+1 < len(view.Waiting) {
		q.Add(view.Waiting[i+1].Key())
	}
}

// capacityView reads the labs that hold or wait for an allocation.
func (c *Controller) capacityView(ctx context.Context, now time.Time) (capacityView, error) {
	v := capacityView{Capacity: c.capacity} // admitMu is held
	for _, p := range []api.Phase{api.PhaseProvisioning, api.PhaseRunning, api.PhaseTimeout} {
		labs, err := c.listPhase(ctx, p)
		if err != nil {
			return v, fmt.Errorf("read allocations: %w", err)
		}
		for _, l := range labs {
			r := request(l)
			v.Used.MilliCPU += r.MilliCPU
			v.Used.MemoryBytes += r.MemoryBytes
		}
	}
	pending, err := c.listPhase(ctx, api.PhasePending)
	if err != nil {
		return v, fmt.Errorf("read waiting labs: %w", err)
	}
	for _, l := range pending {
		if eligible(l, now) && request(l).Fits(c.capacity) {
			v.Waiting = append(v.Waiting, l)
		}
	}
	eligibleOrder(v.Waiting)
	return v, nil
}

// workloadSpec is the workload a lab asks for.
func (c *Controller) workloadSpec(lab *api.LabInstanceRequest) workload.Spec {
	env := maps.Clone(lab.Spec.Environment)
	if env == nil {
		env = map[string]string{}
	}
	env["LAB_NAME"] = lab.Metadata.Name
	env["LAB_NAMESPACE"] = lab.Metadata.Namespace
	env["LAB_STUDENT_EMAIL"] = lab.Spec.StudentEmail
	spec := workload.Spec{
		Name: workload.Name(lab.Metadata.UID), Image: lab.Spec.LabTemplate, Env: env,
		Limits: request(lab), PidsLimit: c.cfg.PidsLimit, StopTimeout: c.cfg.StopTimeout,
	}
	spec.Labels = map[string]string{
		workload.LabelManagedBy:    workload.ManagedBy,
		workload.LabelResourceUID:  lab.Metadata.UID,
		workload.LabelNamespace:    lab.Metadata.Namespace,
		workload.LabelName:         lab.Metadata.Name,
		workload.LabelLeaderEpoch:  strconv.FormatInt(c.epoch.Load(), 10),
		workload.LabelInstallation: c.installation,
		workload.LabelSpecHash:     specHash(spec),
	}
	return spec
}

// specHash fingerprints what the workload was made from; labels cannot
// change after creation, so a mismatch means the workload must be made
// again. CPU is hashed in nanocores, as when specs spoke Docker's units,
// so that workloads made before keep their hash.
func specHash(s workload.Spec) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%d\x00%d\x00", s.Image, s.Limits.MilliCPU*1e6, s.Limits.MemoryBytes, s.PidsLimit)
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		fmt.Fprintf(h, "%s=%s\x00", k, s.Env[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// provision creates and starts the workload. A permanent failure (an
// image that cannot be had) fails the lab; other errors are retried with
// backoff until the provisioning timeout.
func (c *Controller) provision(ctx context.Context, lab *api.LabInstanceRequest, act action, now time.Time) (Result, error) {
	st, done, err := c.ensure(ctx, lab)
	if !done {
		return Result{}, nil // the start's end queues the lab again
	}
	if f := workload.Permanent(err); f != nil {
		return Result{}, c.finish(ctx, lab, api.PhaseFailed, action{reason: f.Reason, message: err.Error()}, nil, now)
	}
	if err != nil {
		return Result{}, fmt.Errorf("provision container: %w", err)
	}
	// Creating and starting took a while: the transition is now.
	return Result{Requeue: true}, c.markRunning(ctx, lab, st, act.reason, c.cfg.Now())
}

// markRunning records a started workload: RUNNING with its id, start
// time and access URL.
func (c *Controller) markRunning(ctx context.Context, lab *api.LabInstanceRequest, st workload.Status, reason string, now time.Time) error {
	started := st.StartedAt
	if started.IsZero() {
		started = now
	}
	started = started.UTC()
	return c.write(ctx, lab, "container "+shortID(st.ID)+" started", func(x *api.LabInstanceRequest) error {
		if err := x.Transition(api.PhaseRunning, reason, "container "+shortID(st.ID)+" started", now); err != nil {
			return err
		}
		x.Status.ContainerID = st.ID
		x.Status.StartedAt = &started
		x.Status.AccessURL = st.AccessURL()
		return nil
	})
}

func shortID(id string) string { return id[:min(12, len(id))] }

// finish moves the lab to COMPLETED or FAILED (through TIMEOUT's and
// RUNNING's allowed paths), records when and why, and releases its
// allocation so that waiting labs can start.
func (c *Controller) finish(ctx context.Context, lab *api.LabInstanceRequest, to api.Phase, act action, ctr *workload.Status, now time.Time) error {
	done := now.UTC()
	if ctr != nil && !ctr.FinishedAt.IsZero() && ctr.State != workload.Running {
		done = ctr.FinishedAt.UTC()
	}
	err := c.write(ctx, lab, act.message, func(x *api.LabInstanceRequest) error {
		if err := x.Transition(to, act.reason, act.message, now); err != nil {
			return err
		}
		x.Status.CompletedAt = &done
		if to == api.PhaseFailed {
			x.Status.ErrorMessage = act.message
		}
		x.Status.ResourceAllocation = nil
		delete(x.Metadata.Annotations, api.AnnotationStopRequested)
		return nil
	})
	if err == nil {
		c.enqueuePending(ctx)
	}
	return err
}

// maxStopFailures is how often stopping may fail before the lab is FAILED.
const maxStopFailures = 5

// stop ends a lab's run: SIGTERM, SIGKILL after the stop timeout, then
// COMPLETED. If stopping keeps failing, the lab is FAILED instead.
func (c *Controller) stop(ctx context.Context, lab *api.LabInstanceRequest, act action, now time.Time) (Result, error) {
	err := c.cfg.Engine.Stop(ctx, workload.Name(lab.Metadata.UID), c.cfg.StopTimeout)
	if err != nil {
		if c.failures(lab.Key()) < maxStopFailures {
			return Result{}, fmt.Errorf("stop container: %w", err)
		}
		return Result{}, c.finish(ctx, lab, api.PhaseFailed, action{reason: "CleanupFailed", message: "could not stop the container: " + err.Error()}, nil, c.cfg.Now())
	}
	// Stopping takes up to the stop timeout: the lab completed now.
	return Result{}, c.finish(ctx, lab, api.PhaseCompleted, act, nil, c.cfg.Now())
}

func (c *Controller) failures(key api.Key) int {
	c.mu.Lock()
	q := c.queue
	c.mu.Unlock()
	if q == nil {
		return 0
	}
	return q.Failures(key)
}

// finalize runs the finalizer: remove the container, confirm it is gone,
// then remove the finalizer (deleting the row if it was the last) and
// record the finalized event, in one transaction.
func (c *Controller) finalize(ctx context.Context, lab *api.LabInstanceRequest) (err error) {
	c.finalizing.Add(1)
	defer func() {
		c.finalizing.Add(-1)
		if !api.IsConflict(err) {
			c.cfg.Observer.FinalizerRun(err == nil)
		}
	}()
	name := workload.Name(lab.Metadata.UID)
	if err := c.cfg.Engine.Remove(ctx, name); err != nil {
		return fmt.Errorf("remove container: %w", err)
	}
	if _, err := c.cfg.Engine.Inspect(ctx, name); !errors.Is(err, workload.ErrNotFound) {
		if err == nil {
			err = errors.New("container still exists after removal")
		}
		return fmt.Errorf("confirm container removal: %w", err)
	}
	opts := store.WriteOptions{ExpectedVersion: lab.Metadata.ResourceVersion, Fence: c.epoch.Load()}
	err = c.cfg.Store.InTx(ctx, func(tx *store.Tx) error {
		out, err := tx.UpdateLab(ctx, lab.Key(), opts, func(x *api.LabInstanceRequest) error {
			x.Metadata.RemoveFinalizer(api.Finalizer)
			x.Status.ResourceAllocation = nil
			return nil
		})
		if err != nil {
			return err
		}
		if err := tx.AppendEvent(ctx, out, api.EventFinalized, "container removed and allocation released", opts); err != nil {
			return err
		}
		return tx.AddCounter(ctx, counterFinalizersCompleted, 1)
	})
	if err == nil {
		c.enqueuePending(ctx)
	}
	return err
}
