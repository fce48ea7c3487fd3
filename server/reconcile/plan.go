package reconcile

import (
	"cmp"
	"fmt"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// step is what the controller should do next for one lab.
type step int

const (
	stepNone           step = iota // in the desired state; maybe check again later
	stepAddFinalizer               // before any workload exists
	stepFinalize                   // deletion: remove the workload, then the finalizer
	stepWait                       // PENDING: not yet time to start
	stepAdmit                      // PENDING: time to start, if capacity allows
	stepProvision                  // PROVISIONING: create and start the workload
	stepRunning                    // PROVISIONING: the workload runs (and its app answers); record it
	stepWaitReady                  // PROVISIONING: the workload runs, its app does not answer yet
	stepComplete                   // the workload exited 0
	stepFail                       // something went wrong for good
	stepTimeout                    // RUNNING past its duration
	stepStop                       // TIMEOUT or a stop request: stop, then COMPLETED
	stepCleanup                    // finished: workload still there or allocation held
	stepRestart                    // RUNNING: the engine stopped the workload; start it again
	stepEndpoint                   // RUNNING: the app moved (a restarted workload); record where
	stepIdle                       // RUNNING: unused too long; record the stop, then stop
	stepPlace                      // PENDING, admitted: make the workload (Ensure); PROVISIONING once placed
	stepAwaitPlacement             // PENDING, admitted: the engine has not placed the workload yet; say why
	stepPlaced                     // PENDING, admitted: the engine placed the workload → PROVISIONING
)

var stepNames = [...]string{"none", "add-finalizer", "finalize", "wait", "admit", "provision", "running",
	"wait-ready", "complete", "fail", "timeout", "stop", "cleanup", "restart", "endpoint", "idle",
	"place", "await-placement", "placed"}

func (s step) String() string { return stepNames[s] }

// action is the decision for one lab: a step, the reason and message to
// record with it, and when to look again.
type action struct {
	step         step
	reason       string
	message      string
	requeueAfter time.Duration
}

// planConfig holds the settings the decision depends on.
type planConfig struct {
	ProvisionTimeout time.Duration
	ProbeInterval    time.Duration
	ReadyRecheck     time.Duration
}

// plan decides, from the lab and what the engine reports about its
// workload (nil: there is none), what to do next. It is pure: it reads
// no clock and calls nothing, so every case is table-tested. Whether a
// started workload's app answers is ctr.Readiness: the engine's verdict,
// or, where the engine has none, the controller's probe, which Reconcile
// makes before it calls plan.
func plan(lab *api.LabInstanceRequest, ctr *workload.Status, now time.Time, cfg planConfig) action {
	if lab.Metadata.DeletionTimestamp != nil {
		if lab.Metadata.HasFinalizer(api.Finalizer) {
			return action{step: stepFinalize, reason: "Deleted"}
		}
		return action{step: stepNone}
	}
	if !lab.Metadata.HasFinalizer(api.Finalizer) && (lab.Status.Phase != api.PhasePending || admitted(lab)) {
		// A PENDING lab not yet admitted has no workload: it is decided
		// at once, and the decision's write adds the finalizer (every
		// controller write of a live lab does), before admission can
		// lead to a workload. One write per new lab, not two: a backlog
		// of labs is decided in one pass.
		return action{step: stepAddFinalizer}
	}
	st := &lab.Status
	switch st.Phase {
	case api.PhasePending:
		if admitted(lab) {
			return placement(lab, ctr, cfg)
		}
		start, _ := api.ParseStartTime(lab.Spec.ScheduledStartTime)
		if _, ok := lab.Metadata.Annotations[api.AnnotationStartRequested]; ok {
			return action{step: stepAdmit, reason: "StartRequested"}
		}
		if !start.IsZero() && start.After(now) {
			return action{step: stepWait, reason: "WaitingForStartTime",
				message: "scheduled to start at " + start.UTC().Format(time.RFC3339), requeueAfter: start.Sub(now)}
		}
		return action{step: stepAdmit, reason: "Scheduled"}

	case api.PhaseProvisioning:
		since := phaseSince(lab)
		timedOut := !since.IsZero() && now.Sub(since) > cfg.ProvisionTimeout
		if ctr != nil && ctr.State == workload.Exited && ctr.StartedAt.IsZero() {
			// Ended before it ever started: its node was lost, it was
			// evicted, the engine could not start it. A failure is
			// judged here; anything else goes the usual way.
			if wait := settling(ctr, now); wait > 0 {
				return action{step: stepNone, requeueAfter: wait}
			}
			if a := exited(ctr); a.step == stepFail {
				return a
			}
		}
		if ctr == nil || ctr.StartedAt.IsZero() {
			if timedOut {
				return action{step: stepFail, reason: "ProvisioningTimeout",
					message: fmt.Sprintf("the container did not start within %s", cfg.ProvisionTimeout)}
			}
			return action{step: stepProvision, reason: "ContainerStarted"}
		}
		// Started. A workload without an app (a batch lab) runs as soon as
		// it started; one that already exited is judged once RUNNING.
		if ctr.State != workload.Running || ctr.Port == 0 {
			return action{step: stepRunning, reason: "ContainerStarted"}
		}
		if ctr.Endpoint != "" && ctr.Readiness == workload.Ready {
			return action{step: stepRunning, reason: "AppReady", message: fmt.Sprintf("the app answers on port %d", ctr.Port)}
		}
		how, why := appCheck(lab, ctr)
		if timedOut {
			return action{step: stepFail, reason: "ProvisioningTimeout",
				message: fmt.Sprintf("the app never answered on port %d (%s) within %s%s", ctr.Port, how, cfg.ProvisionTimeout, why)}
		}
		return action{step: stepWaitReady, reason: "WaitingForApp",
			message:      fmt.Sprintf("waiting for the app to answer on port %d (%s)%s", ctr.Port, how, why),
			requeueAfter: min(cfg.ReadyRecheck, since.Add(cfg.ProvisionTimeout).Sub(now)+time.Millisecond)}

	case api.PhaseRunning:
		if _, stop := lab.Metadata.Annotations[api.AnnotationStopRequested]; stop {
			if lab.Metadata.Annotations[api.AnnotationStopReason] == reasonIdle {
				return action{step: stepStop, reason: reasonIdle, message: idleMessage(lab)}
			}
			return action{step: stepStop, reason: "StoppedByUser", message: "stopped on request"}
		}
		if ctr == nil {
			return action{step: stepFail, reason: "ContainerVanished",
				message: "the lab's container no longer exists: it was removed outside labd"}
		}
		expiry := runningSince(lab).Add(time.Duration(lab.Spec.DurationMinutes) * time.Minute)
		if ctr.State != workload.Running {
			if ctr.Reason == workload.ReasonEngineRestart && now.Before(expiry) {
				// Not the lab's doing: its time is not over, so it runs on.
				return action{step: stepRestart, reason: workload.ReasonEngineRestart, message: ctr.Message}
			}
			if ctr.Reason != workload.ReasonEngineRestart {
				if wait := settling(ctr, now); wait > 0 {
					return action{step: stepNone, requeueAfter: wait}
				}
				return exited(ctr)
			}
		}
		if !now.Before(expiry) {
			return action{step: stepTimeout, reason: "DurationExceeded",
				message: fmt.Sprintf("ran for its %d minutes", lab.Spec.DurationMinutes)}
		}
		next := min(expiry.Sub(now), cfg.ProbeInterval)
		if idle := lab.Spec.IdleTimeoutMinutes; idle > 0 {
			cull := lastUsed(lab).Add(time.Duration(idle) * time.Minute)
			if !now.Before(cull) {
				// Recorded first, as a stop request, so that a container
				// that exits on the way is not taken for a failure.
				return action{step: stepIdle, reason: reasonIdle, message: idleMessage(lab)}
			}
			next = min(next, cull.Sub(now))
		}
		if ctr.Endpoint != "" && ctr.Endpoint != st.Endpoint {
			return action{step: stepEndpoint, reason: "EndpointChanged"}
		}
		return action{step: stepNone, requeueAfter: next}

	case api.PhaseTimeout:
		return action{step: stepStop, reason: "DurationExceeded", message: fmt.Sprintf("stopped after its %d minutes", lab.Spec.DurationMinutes)}

	case api.PhaseCompleted, api.PhaseFailed:
		// An ended lab keeps no workload: its output is saved, then the
		// workload removed (the workspace keeps the files).
		if ctr != nil || len(st.ResourceAllocation) > 0 {
			return action{step: stepCleanup, reason: "Finished"}
		}
	}
	return action{step: stepNone}
}

// Reasons of a lab admitted by labd whose workload the engine has not
// placed yet, when the engine gives none of its own.
const (
	reasonAdmitted            = "Admitted"
	reasonWaitingForPlacement = "WaitingForPlacement"
)

// admitted reports whether a PENDING lab has been admitted: labd reserved
// its requests (status.resource_allocation), and it waits for its
// workload to be placed. A lab leaves PENDING for PROVISIONING only when
// the engine has found its workload a place to run: at once on one
// Docker host; on a cluster, when the scheduler has bound it to a node.
// Until then it waits for capacity, as a lab in labd's queue does, and its
// Scheduled condition says why.
func admitted(lab *api.LabInstanceRequest) bool {
	return lab.Status.Phase == api.PhasePending && len(lab.Status.ResourceAllocation) > 0
}

// placement decides for an admitted PENDING lab from its workload: make it
// (none yet), wait for the engine to place it (Unplaced: the condition
// says why, in the engine's words when it has some), or record that it
// was placed (PROVISIONING, with the reason it was admitted for and what
// it was allocated). Pure.
func placement(lab *api.LabInstanceRequest, ctr *workload.Status, cfg planConfig) action {
	reason := "Scheduled"
	if _, ok := lab.Metadata.Annotations[api.AnnotationStartRequested]; ok {
		reason = "StartRequested"
	}
	allocated := "allocated " + requests(lab).String()
	switch {
	case ctr == nil:
		return action{step: stepPlace, reason: reason, message: allocated}
	case ctr.State == workload.Pending && ctr.Unplaced:
		msg := fmt.Sprintf("admitted (%s); waiting for the engine to place the workload", allocated)
		if ctr.Message != "" {
			msg += ": " + ctr.Message
		}
		return action{step: stepAwaitPlacement, reason: cmp.Or(ctr.Reason, reasonWaitingForPlacement), message: msg,
			requeueAfter: cfg.ProbeInterval}
	}
	return action{step: stepPlaced, reason: reason, message: allocated}
}

// exitSettle is how long after a workload ended by a signal the
// controller waits before judging it: an engine may report the OOM kill
// a moment after the exit, and a forced removal (kill, then remove) is
// not over yet.
const exitSettle = 2 * time.Second

// settling is how much longer to wait before judging an exit (0: judge
// now): until the engine's SettlesAt, or, when the engine sets none, for
// exitSettle after an exit by a signal. A finish time far in the future
// (the engine's clock ahead of ours) is not waited for.
func settling(ctr *workload.Status, now time.Time) time.Duration {
	if !ctr.SettlesAt.IsZero() {
		return max(0, min(ctr.SettlesAt.Sub(now), time.Minute))
	}
	if workload.Signal(ctr.ExitCode) == 0 || ctr.OOMKilled || ctr.FinishedAt.IsZero() {
		return 0
	}
	since := now.Sub(ctr.FinishedAt)
	if since >= exitSettle || since < -exitSettle {
		return 0
	}
	return exitSettle - since
}

// exited turns a stopped workload into COMPLETED or FAILED, with the
// reason the engine reported and nothing it did not: out of memory only
// when the engine says so, a kill by its signal.
func exited(ctr *workload.Status) action {
	code := ctr.ExitCode
	switch {
	case code == 0 && !ctr.OOMKilled && ctr.Message == "":
		return action{step: stepComplete, reason: "ContainerExited", message: "the container exited with code 0"}
	case ctr.OOMKilled || ctr.Reason == workload.ReasonOOMKilled:
		return action{step: stepFail, reason: "OOMKilled",
			message: fmt.Sprintf("the container ran out of memory: the engine's OOM killer ended it (exit code %d)", code)}
	case ctr.Reason == workload.ReasonNodeLost:
		return action{step: stepFail, reason: workload.ReasonNodeLost,
			message: cmp.Or(ctr.Message, "the machine the lab ran on was lost") + "; the lab is not started again"}
	case ctr.Reason == workload.ReasonEvicted:
		return action{step: stepFail, reason: workload.ReasonEvicted,
			message: cmp.Or(ctr.Message, "the engine evicted the lab to reclaim its machine's resources")}
	case ctr.Reason == workload.ReasonRemoved:
		// As a container that is already gone (ContainerVanished): the
		// engine may still be ending it, but it is not coming back.
		msg := "the lab's container is being removed outside labd"
		if ctr.Message != "" {
			msg += ": " + ctr.Message
		}
		return action{step: stepFail, reason: "ContainerVanished", message: msg}
	case workload.Signal(code) != 0:
		msg := fmt.Sprintf("the container was ended by %s (exit code %d), not by labd; the engine reports no out-of-memory kill",
			workload.SignalName(workload.Signal(code)), code)
		if ctr.Message != "" {
			msg += "; " + ctr.Message
		}
		return action{step: stepFail, reason: "ContainerKilled", message: msg}
	}
	msg := fmt.Sprintf("the container exited with code %d", code)
	if ctr.Message != "" {
		msg += ": " + ctr.Message
	}
	return action{step: stepFail, reason: "ContainerFailed", message: msg}
}

// appCheck says how a started lab's app is checked, and, when known, why
// it does not answer (": connection refused").
func appCheck(lab *api.LabInstanceRequest, ctr *workload.Status) (how, why string) {
	how = "a TCP connection"
	if p := lab.Spec.ReadinessPath; p != "" {
		how = "HTTP GET " + p + " below 500"
	}
	switch {
	case ctr.Endpoint == "":
		why = ": the workload has no address yet"
	case ctr.Message != "":
		why = ": " + ctr.Message
	}
	return how, why
}

// reasonIdle ends a lab nobody used for its idle_timeout_minutes.
const reasonIdle = "Idle"

func idleMessage(lab *api.LabInstanceRequest) string {
	return fmt.Sprintf("nobody used the lab for %d minutes", lab.Spec.IdleTimeoutMinutes)
}

// lastUsed is when the lab was last used through the gateway, or, if it
// has not been since it started, when it started: idleness counts from
// the later.
func lastUsed(lab *api.LabInstanceRequest) time.Time {
	t := runningSince(lab)
	if la := lab.Status.LastActivity; la != nil && la.After(t) {
		return *la
	}
	return t
}

// phaseSince is when the lab entered its current phase.
func phaseSince(lab *api.LabInstanceRequest) time.Time {
	tr := lab.Status.Transitions
	if len(tr) > 0 && tr[len(tr)-1].To == lab.Status.Phase {
		return tr[len(tr)-1].At
	}
	if lab.Metadata.CreationTimestamp != nil {
		return *lab.Metadata.CreationTimestamp
	}
	return time.Time{}
}

// runningSince is when the lab's run started: its duration counts from there.
func runningSince(lab *api.LabInstanceRequest) time.Time {
	if lab.Status.StartedAt != nil {
		return *lab.Status.StartedAt
	}
	return phaseSince(lab)
}
