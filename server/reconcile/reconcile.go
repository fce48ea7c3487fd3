package reconcile

import (
	"cmp"
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
		if led := c.ledger.Load(); led != nil {
			c.wake(led.forgetKey(req.Key))
		}
		return Result{}, nil // gone; the GC removes any container left behind
	}
	if err != nil {
		return Result{}, err
	}
	if led := c.ledger.Load(); led != nil {
		c.wake(led.observe(lab, false, c.cfg.Now(), fromRead))
	}
	if s := c.seen.Load(); s != nil {
		s.read(req.Key, lab.Metadata.ResourceVersion)
	}
	if c.starting(lab.Metadata.UID) {
		// One engine operation at a time per lab: a removal or a stop
		// now could run before the start's create and leave its workload
		// behind. The start's end queues the lab again.
		return Result{}, nil
	}
	var ctr *workload.Status
	if lab.Status.Phase != api.PhasePending || lab.Metadata.DeletionTimestamp != nil || admitted(lab) {
		st, err := c.cfg.Engine.Inspect(ctx, workload.Name(lab.Metadata.UID))
		switch {
		case err == nil:
			ctr = &st
		case !errors.Is(err, workload.ErrNotFound):
			return Result{}, fmt.Errorf("inspect container: %w", err)
		}
	}
	if ctr != nil && needsProbe(lab, ctr) {
		c.probe(ctx, lab, ctr)
	}
	now := c.cfg.Now()
	act := plan(lab, ctr, now, planConfig{ProvisionTimeout: c.cfg.ProvisionTimeout, ProbeInterval: c.cfg.ProbeInterval,
		ReadyRecheck: c.cfg.ReadyRecheck})
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
	case stepPlace:
		return c.place(ctx, lab, act, now)
	case stepAwaitPlacement:
		return c.awaitPlacement(ctx, lab, act, now)
	case stepPlaced:
		return Result{Requeue: true}, c.placed(ctx, lab, act, now)
	case stepProvision:
		return c.provision(ctx, lab, act, now)
	case stepRunning:
		return Result{Requeue: true}, c.markRunning(ctx, lab, *ctr, act, now)
	case stepRestart:
		return c.restart(ctx, lab, ctr, act, now)
	case stepWaitReady:
		return Result{RequeueAfter: act.requeueAfter}, c.write(ctx, lab, "", func(x *api.LabInstanceRequest) error {
			x.SetCondition(api.Condition{Type: api.ConditionReady, Status: api.ConditionFalse, Reason: act.reason, Message: act.message}, now)
			return nil
		})
	case stepIdle:
		return Result{Requeue: true}, c.write(ctx, lab, act.message, func(x *api.LabInstanceRequest) error {
			if x.Metadata.Annotations == nil {
				x.Metadata.Annotations = api.StringMap{}
			}
			if _, asked := x.Metadata.Annotations[api.AnnotationStopRequested]; !asked {
				x.Metadata.Annotations[api.AnnotationStopRequested] = now.UTC().Format(time.RFC3339)
				x.Metadata.Annotations[api.AnnotationStopReason] = act.reason
			}
			return nil
		})
	case stepEndpoint:
		// Also a lab that ran before labd recorded endpoints (and had a
		// published port for its access URL) gets both here.
		return Result{Requeue: true}, c.write(ctx, lab, "the lab's app is at "+ctr.Endpoint, func(x *api.LabInstanceRequest) error {
			x.Status.Endpoint = ctr.Endpoint
			if c.cfg.AccessURL != nil {
				x.Status.AccessURL = c.cfg.AccessURL(x.Key())
			}
			return nil
		})
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
		return Result{}, c.cleanup(ctx, lab, ctr)
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
	out, err := c.cfg.Store.UpdateLabAt(ctx, lab, c.epoch.Load(), api.EventReconciled, message, c.mutator(lab, mutate))
	if err == nil && out.Metadata.ResourceVersion != lab.Metadata.ResourceVersion {
		c.settle(out)
		if s := c.seen.Load(); s != nil {
			s.written(lab.Key(), out.Metadata.ResourceVersion)
		}
	}
	return err
}

// mutator is mutate as every controller write makes it: with the
// finalizer on a live lab (see plan) and the generation observed, that of
// lab, the version the decision was made on.
func (c *Controller) mutator(lab *api.LabInstanceRequest, mutate store.Mutator) store.Mutator {
	seen := lab.Metadata.Generation
	return func(x *api.LabInstanceRequest) error {
		if err := mutate(x); err != nil {
			return err
		}
		if x.Metadata.DeletionTimestamp == nil {
			x.Metadata.AddFinalizer(api.Finalizer)
		}
		x.Status.ObservedGeneration = seen
		return nil
	}
}

// settle tells the ledger what a write committed, at once: capacity a lab
// released is free for the next decision, before the outbox stream
// delivers the change.
func (c *Controller) settle(written *api.LabInstanceRequest) {
	if led := c.ledger.Load(); led != nil {
		c.wake(led.observe(written, false, c.cfg.Now(), fromRead))
	}
}

// admit admits a PENDING lab if it is at the head of the capacity queue
// and fits in what is free (ledger.decide, then the pure admit): its
// requests are reserved (status.resource_allocation) and it stays
// PENDING until the engine has placed its workload (placement). The
// ledger reserves the lab's requests before the write, so that the next
// lab in the queue can be decided at once; a failed write gives them
// back. Only the leader admits.
func (c *Controller) admit(ctx context.Context, lab *api.LabInstanceRequest, act action, now time.Time) (Result, error) {
	led := c.ledger.Load()
	if led == nil {
		return Result{}, errors.New("admission ledger not ready")
	}
	var largest workload.Resources
	if l := c.largest.Load(); l != nil {
		largest = *l
	}
	if r := refuse(lab, largest, c.cfg.Images); r != nil {
		return Result{}, c.finish(ctx, lab, api.PhaseFailed, action{reason: r.reason, message: r.message}, nil, now)
	}
	dec, wakes := led.decide(lab, now)
	c.wake(wakes)
	switch {
	case dec.never:
		return Result{}, c.finish(ctx, lab, api.PhaseFailed, action{reason: api.ReasonInsufficientCapacity, message: "the lab " + dec.message}, nil, now)
	case !dec.queued:
		// The ledger has seen a newer version of the lab: decide on that.
		return Result{RequeueAfter: c.cfg.WaitRecheck}, nil
	case !dec.admit:
		// Woken by the ledger when its turn may have come; no polling.
		cond := api.Condition{Type: api.ConditionScheduled, Status: api.ConditionFalse, Reason: api.ReasonInsufficientCapacity, Message: dec.message}
		if !rewriteCondition(lab.Condition(api.ConditionScheduled), cond) {
			return Result{}, nil
		}
		if w := c.places.Load(); w != nil {
			// Written in a batch (places.go); nothing to do until the
			// ledger wakes it.
			return Result{}, w.add(ctx, placeWrite{lab: lab, cond: cond, now: now})
		}
		err := c.write(ctx, lab, "", func(x *api.LabInstanceRequest) error {
			x.SetCondition(cond, now)
			return nil
		})
		if err == nil {
			c.settleSeen(lab.Key()) // nothing to do until the ledger wakes it
		}
		return Result{}, err
	}
	need := dec.need
	err := c.write(ctx, lab, "admitted: "+dec.message, func(x *api.LabInstanceRequest) error {
		x.Status.ResourceAllocation = api.StringMap{
			"cpu":    api.FormatCPU(need.MilliCPU),
			"memory": api.FormatMemory(need.MemoryBytes),
			"host":   c.cfg.AccessHost,
		}
		x.SetCondition(api.Condition{Type: api.ConditionScheduled, Status: api.ConditionFalse, Reason: reasonAdmitted,
			Message: dec.message + "; making the workload"}, now)
		return nil
	})
	if err != nil {
		// Others may be woken; this lab is retried with the error's
		// backoff, not at once (a write that keeps conflicting would
		// otherwise loop hot).
		c.wake(slices.DeleteFunc(led.revert(lab.Metadata.UID, dec.version), func(k api.Key) bool { return k == lab.Key() }))
	}
	return Result{Requeue: true}, err
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
		Limits: limits(lab), Requests: requests(lab), PidsLimit: c.cfg.PidsLimit, StopTimeout: c.cfg.StopTimeout,
		Command: lab.Spec.Command, Args: lab.Spec.Args, Port: lab.Spec.Port, ReadinessPath: lab.Spec.ReadinessPath,
	}
	if ws := lab.Spec.Workspace; ws != nil {
		spec.Workspace = &workload.Mount{
			Workspace: workload.WorkspaceName(c.installation, lab.Metadata.Namespace, lab.Spec.StudentEmail),
			Path:      ws.MountPath,
			Labels:    workload.WorkspaceLabels(c.installation, lab.Metadata.Namespace, lab.Spec.StudentEmail),
		}
	}
	if sc := lab.Spec.SecurityContext; sc != nil {
		spec.RunAsUser = sc.RunAsUser
		spec.ReadOnlyRootFilesystem = sc.ReadOnlyRootFilesystem
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
// so that workloads made before keep their hash; for the same reason the
// fields added since (workspace, command, args, port, readiness path,
// security settings) are hashed only when set. Requests are not hashed:
// they are immutable, and the engine applies only limits.
func specHash(s workload.Spec) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%d\x00%d\x00", s.Image, s.Limits.MilliCPU*1e6, s.Limits.MemoryBytes, s.PidsLimit)
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		fmt.Fprintf(h, "%s=%s\x00", k, s.Env[k])
	}
	if w := s.Workspace; w != nil {
		fmt.Fprintf(h, "workspace=%s:%s\x00", w.Workspace, w.Path)
	}
	// Fields added later count only when set, so that labs that do not
	// use them keep their hash (and their workload) across an upgrade.
	if s.RunAsUser != nil {
		fmt.Fprintf(h, "run_as_user=%d\x00", *s.RunAsUser)
	}
	if s.ReadOnlyRootFilesystem {
		fmt.Fprintf(h, "read_only_root_filesystem\x00")
	}
	hashWorkloadFields(h, s)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// place makes the workload of an admitted PENDING lab (Ensure, off the
// workers: starts.go) and acts on what the engine says (placement):
// PROVISIONING when it is placed, else the Scheduled condition says what
// it waits for. A permanent failure (an image that cannot be had) fails
// the lab, through PROVISIONING (the engine tried to start it); other
// errors are retried with backoff. A lab waiting for placement has no
// provisioning timeout: it waits for capacity.
func (c *Controller) place(ctx context.Context, lab *api.LabInstanceRequest, act action, now time.Time) (Result, error) {
	st, done, err := c.ensure(ctx, lab)
	if !done {
		return Result{}, nil // the start's end queues the lab again
	}
	if f := workload.Permanent(err); f != nil {
		return Result{}, c.write(ctx, lab, err.Error(), func(x *api.LabInstanceRequest) error {
			if err := x.Transition(api.PhaseProvisioning, act.reason, act.message, now); err != nil {
				return err
			}
			return failed(x, action{reason: f.Reason, message: err.Error()}, now.UTC(), now)
		})
	}
	if err != nil {
		return Result{}, fmt.Errorf("provision container: %w", err)
	}
	switch next := placement(lab, &st, planConfig{ProbeInterval: c.cfg.ProbeInterval}); next.step {
	case stepAwaitPlacement:
		return c.awaitPlacement(ctx, lab, next, now)
	case stepPlaced:
		return Result{Requeue: true}, c.placed(ctx, lab, next, c.cfg.Now())
	}
	return Result{Requeue: true}, nil
}

// awaitPlacement records why an admitted lab's workload has no place to
// run yet (Scheduled=False, the engine's reason), and looks again after
// act.requeueAfter, or when the engine says the workload changed.
func (c *Controller) awaitPlacement(ctx context.Context, lab *api.LabInstanceRequest, act action, now time.Time) (Result, error) {
	return Result{RequeueAfter: act.requeueAfter}, c.write(ctx, lab, "", func(x *api.LabInstanceRequest) error {
		x.SetCondition(api.Condition{Type: api.ConditionScheduled, Status: api.ConditionFalse, Reason: act.reason, Message: act.message}, now)
		return nil
	})
}

// placed moves an admitted lab whose workload the engine has placed to
// PROVISIONING: Scheduled=True, with what it was allocated.
func (c *Controller) placed(ctx context.Context, lab *api.LabInstanceRequest, act action, now time.Time) error {
	return c.write(ctx, lab, act.message, func(x *api.LabInstanceRequest) error {
		if err := x.Transition(api.PhaseProvisioning, act.reason, act.message, now); err != nil {
			return err
		}
		delete(x.Metadata.Annotations, api.AnnotationStartRequested)
		return nil
	})
}

// provision creates and starts the workload. A permanent failure (an
// image that cannot be had) fails the lab; other errors are retried with
// backoff until the provisioning timeout. A workload that has not
// started yet (being created, pulling its image, or waiting for a place)
// is asked again after ReadyRecheck, the Ready condition saying what it
// waits for.
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
	if st.State == workload.Pending {
		reason, msg := cmp.Or(st.Reason, "WaitingForStart"), "waiting for the workload to start"
		if st.Message != "" {
			msg += ": " + st.Message
		} else if st.Reason != "" {
			msg += " (" + st.Reason + ")"
		}
		return Result{RequeueAfter: c.cfg.ReadyRecheck}, c.write(ctx, lab, "", func(x *api.LabInstanceRequest) error {
			x.SetCondition(api.Condition{Type: api.ConditionReady, Status: api.ConditionFalse, Reason: reason, Message: msg}, now)
			return nil
		})
	}
	if st.Port > 0 && st.State == workload.Running {
		// An app to wait for: the next round probes it (plan decides).
		return Result{Requeue: true}, nil
	}
	// Creating and starting took a while: the transition is now.
	return Result{Requeue: true}, c.markRunning(ctx, lab, st, act, c.cfg.Now())
}

// markRunning records a started workload: RUNNING with its id, start
// time, and, for a lab with an app, where the gateway reaches it and the
// URL students open.
func (c *Controller) markRunning(ctx context.Context, lab *api.LabInstanceRequest, st workload.Status, act action, now time.Time) error {
	started := st.StartedAt
	if started.IsZero() {
		started = now
	}
	started = started.UTC()
	msg := "container " + shortID(st.ID) + " started"
	if act.message != "" {
		msg += "; " + act.message
	}
	return c.write(ctx, lab, msg, func(x *api.LabInstanceRequest) error {
		if err := x.Transition(api.PhaseRunning, act.reason, msg, now); err != nil {
			return err
		}
		x.Status.ContainerID = st.ID
		x.Status.StartedAt = &started
		if st.Port > 0 && st.Endpoint != "" {
			x.Status.Endpoint = st.Endpoint
			if c.cfg.AccessURL != nil {
				x.Status.AccessURL = c.cfg.AccessURL(x.Key())
			}
		}
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
	return c.write(ctx, lab, act.message, func(x *api.LabInstanceRequest) error {
		if to == api.PhaseFailed {
			return failed(x, act, done, now)
		}
		if err := x.Transition(to, act.reason, act.message, now); err != nil {
			return err
		}
		ended(x, done)
		return nil
	})
}

// failed moves x to FAILED for act's reason, its run over at done.
func failed(x *api.LabInstanceRequest, act action, done, now time.Time) error {
	if err := x.Transition(api.PhaseFailed, act.reason, act.message, now); err != nil {
		return err
	}
	x.Status.ErrorMessage = act.message
	ended(x, done)
	return nil
}

// ended records the end of x's run at done and releases its allocation.
func ended(x *api.LabInstanceRequest, done time.Time) {
	x.Status.CompletedAt = &done
	x.Status.ResourceAllocation = nil
	delete(x.Metadata.Annotations, api.AnnotationStopRequested)
	delete(x.Metadata.Annotations, api.AnnotationStopReason)
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
	q := c.currentQueue()
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
	var written *api.LabInstanceRequest
	err = c.cfg.Store.InTx(ctx, func(tx *store.Tx) error {
		out, err := tx.UpdateLab(ctx, lab.Key(), opts, func(x *api.LabInstanceRequest) error {
			x.Metadata.RemoveFinalizer(api.Finalizer)
			x.Status.ResourceAllocation = nil
			return nil
		})
		if err != nil {
			return err
		}
		written = out
		if err := tx.AppendEvent(ctx, out, api.EventFinalized, "container removed and allocation released", opts); err != nil {
			return err
		}
		return tx.AddCounter(ctx, counterFinalizersCompleted, 1)
	})
	if err == nil {
		c.settle(written)
	}
	return err
}
