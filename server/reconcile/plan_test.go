package reconcile

import (
	"strings"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/images"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func labIn(phase api.Phase, opts ...func(*api.LabInstanceRequest)) *api.LabInstanceRequest {
	created := t0.Add(-time.Hour)
	l := &api.LabInstanceRequest{
		Metadata: api.ObjectMeta{Name: "l", Namespace: "default", UID: "u1", CreationTimestamp: &created, Finalizers: []string{api.Finalizer}},
		Spec:     api.Spec{LabTemplate: "img", StudentEmail: "s@u.edu", DurationMinutes: 60},
		Status:   api.Status{Phase: phase},
	}
	for _, o := range opts {
		o(l)
	}
	return l
}

func enteredAt(at time.Time) func(*api.LabInstanceRequest) {
	return func(l *api.LabInstanceRequest) {
		l.Status.Transitions = []api.Transition{{From: api.PhasePending, To: l.Status.Phase, At: at}}
	}
}

func startedAt(at time.Time) func(*api.LabInstanceRequest) {
	return func(l *api.LabInstanceRequest) { l.Status.StartedAt = &at }
}

func running() *workload.Status {
	return &workload.Status{State: workload.Running, StartedAt: t0.Add(-time.Minute), Detail: "running"}
}

// serving is a running workload with an app on port 8080 at endpoint, the
// engine's (or the probe's) verdict on it being r, and why not being msg.
func serving(endpoint string, r workload.Readiness, msg string) *workload.Status {
	st := running()
	st.Port, st.Endpoint, st.Readiness, st.Message = 8080, endpoint, r, msg
	return st
}

func idleFor(minutes int, lastActivity *time.Time) func(*api.LabInstanceRequest) {
	return func(l *api.LabInstanceRequest) {
		l.Spec.IdleTimeoutMinutes = minutes
		l.Status.LastActivity = lastActivity
	}
}

func at(t time.Time) *time.Time { return &t }

func exitedWith(code int) *workload.Status {
	return &workload.Status{State: workload.Exited, ExitCode: code, StartedAt: t0.Add(-time.Minute), FinishedAt: t0, Detail: "exited"}
}

// unschedulable is a workload a scheduler could place on no node.
func unschedulable() *workload.Status {
	return &workload.Status{State: workload.Pending, Unplaced: true, Reason: "Unschedulable",
		Message: "0/1 nodes are available: 1 Insufficient cpu."}
}

// lost is a workload lost with its node.
func lost() *workload.Status {
	return &workload.Status{State: workload.Exited, ExitCode: -1, Reason: workload.ReasonNodeLost,
		Message: "the lab's node n2 has been Unknown (its kubelet stopped reporting) since 2026-11-25T11:58:00Z, longer than 1m0s: the lab is lost"}
}

func TestPlan(t *testing.T) {
	t.Parallel()
	cfg := planConfig{ProvisionTimeout: 5 * time.Minute, ProbeInterval: 10 * time.Second, ReadyRecheck: time.Second}
	idleStop := func(l *api.LabInstanceRequest) {
		l.Metadata.Annotations = api.StringMap{api.AnnotationStopRequested: "2026-11-25T12:00:00Z", api.AnnotationStopReason: "Idle"}
	}
	recorded := func(endpoint string) func(*api.LabInstanceRequest) {
		return func(l *api.LabInstanceRequest) { l.Status.Endpoint = endpoint }
	}
	deleted := func(l *api.LabInstanceRequest) { d := t0; l.Metadata.DeletionTimestamp = &d }
	noFinalizer := func(l *api.LabInstanceRequest) { l.Metadata.Finalizers = nil }
	startAt := func(s string) func(*api.LabInstanceRequest) {
		return func(l *api.LabInstanceRequest) { l.Spec.ScheduledStartTime = s }
	}
	annotate := func(k string) func(*api.LabInstanceRequest) {
		return func(l *api.LabInstanceRequest) { l.Metadata.Annotations = api.StringMap{k: "now"} }
	}
	allocated := func(l *api.LabInstanceRequest) { l.Status.ResourceAllocation = api.StringMap{"cpu": "1"} }

	cases := []struct {
		name    string
		lab     *api.LabInstanceRequest
		ctr     *workload.Status
		want    step
		reason  string
		requeue time.Duration
	}{
		{"deleted with finalizer", labIn(api.PhaseRunning, deleted), running(), stepFinalize, "Deleted", 0},
		{"deleted without finalizer", labIn(api.PhaseRunning, deleted, noFinalizer), nil, stepNone, "", 0},
		{"new lab is decided at once (the decision's write adds the finalizer)", labIn(api.PhasePending, noFinalizer), nil, stepAdmit, "Scheduled", 0},
		{"new lab waiting for its start time", labIn(api.PhasePending, noFinalizer, startAt("2026-11-25T12:30:00Z")), nil, stepWait, "WaitingForStartTime", 30 * time.Minute},
		{"admitted lab without finalizer gets one before its workload", labIn(api.PhasePending, noFinalizer, admittedFor("1", "1Gi")), nil, stepAddFinalizer, "", 0},
		{"finished lab without finalizer gets one", labIn(api.PhaseCompleted, noFinalizer), nil, stepAddFinalizer, "", 0},
		{"pending, start now", labIn(api.PhasePending), nil, stepAdmit, "Scheduled", 0},
		{"pending, start passed", labIn(api.PhasePending, startAt("2026-11-25T11:00:00Z")), nil, stepAdmit, "Scheduled", 0},
		{"pending, start in 30m", labIn(api.PhasePending, startAt("2026-11-25T12:30:00Z")), nil, stepWait, "WaitingForStartTime", 30 * time.Minute},
		{"pending, start in other zone", labIn(api.PhasePending, startAt("2026-11-25T13:30:00+01:00")), nil, stepWait, "WaitingForStartTime", 30 * time.Minute},
		{"pending, future start but start requested", labIn(api.PhasePending, startAt("2027-01-01T00:00:00Z"), annotate(api.AnnotationStartRequested)), nil, stepAdmit, "StartRequested", 0},
		// Admitted by labd, the lab stays PENDING until the engine has
		// placed its workload: at once on Docker, when the scheduler has
		// bound it to a node on Kubernetes.
		{"pending, admitted, no workload yet", labIn(api.PhasePending, allocated), nil, stepPlace, "Scheduled", 0},
		{"pending, admitted on a start request", labIn(api.PhasePending, allocated, annotate(api.AnnotationStartRequested)), nil, stepPlace, "StartRequested", 0},
		{"pending, admitted, its start time no longer matters", labIn(api.PhasePending, allocated, startAt("2027-01-01T00:00:00Z")), nil, stepPlace, "Scheduled", 0},
		{"pending, admitted, the scheduler has not tried yet", labIn(api.PhasePending, allocated), &workload.Status{State: workload.Pending, Unplaced: true}, stepAwaitPlacement, "WaitingForPlacement", 10 * time.Second},
		{"pending, admitted, fits no node", labIn(api.PhasePending, allocated), unschedulable(), stepAwaitPlacement, "Unschedulable", 10 * time.Second},
		{"pending, admitted, unschedulable for hours: no timeout", labIn(api.PhasePending, allocated, enteredAt(t0.Add(-5*time.Hour))), unschedulable(), stepAwaitPlacement, "Unschedulable", 10 * time.Second},
		{"pending, admitted, placed, starting", labIn(api.PhasePending, allocated), &workload.Status{State: workload.Pending, Reason: "ContainerCreating"}, stepPlaced, "Scheduled", 0},
		{"pending, admitted, placed and running (Docker)", labIn(api.PhasePending, allocated), running(), stepPlaced, "Scheduled", 0},
		{"pending, admitted, placed and already ended", labIn(api.PhasePending, allocated), exitedWith(3), stepPlaced, "Scheduled", 0},
		{"pending, admitted, deleted", labIn(api.PhasePending, allocated, deleted), unschedulable(), stepFinalize, "Deleted", 0},
		{"provisioning, no container", labIn(api.PhaseProvisioning, enteredAt(t0.Add(-time.Minute))), nil, stepProvision, "ContainerStarted", 0},
		{"provisioning, placed, still being created", labIn(api.PhaseProvisioning, enteredAt(t0.Add(-time.Minute))), &workload.Status{State: workload.Pending, Reason: "ContainerCreating"}, stepProvision, "ContainerStarted", 0},
		{"provisioning, still being created at the timeout", labIn(api.PhaseProvisioning, enteredAt(t0.Add(-6*time.Minute))), &workload.Status{State: workload.Pending, Reason: "ContainerCreating"}, stepFail, "ProvisioningTimeout", 0},
		{"provisioning, lost with its node before it started", labIn(api.PhaseProvisioning, enteredAt(t0.Add(-time.Minute))), lost(), stepFail, "NodeLost", 0},
		{"provisioning, evicted before it started", labIn(api.PhaseProvisioning, enteredAt(t0.Add(-time.Minute))), &workload.Status{State: workload.Exited, ExitCode: -1, Reason: workload.ReasonEvicted, Message: "the pod was evicted: low on memory"}, stepFail, "Evicted", 0},
		{"provisioning, killed before it started: let it settle", labIn(api.PhaseProvisioning, enteredAt(t0.Add(-time.Minute))), &workload.Status{State: workload.Exited, ExitCode: 137, FinishedAt: t0.Add(-time.Second)}, stepNone, "", time.Second},
		{"provisioning, container created not started", labIn(api.PhaseProvisioning, enteredAt(t0.Add(-time.Minute))), &workload.Status{State: workload.Pending, Detail: "created"}, stepProvision, "ContainerStarted", 0},
		{"provisioning, container already running (adopted)", labIn(api.PhaseProvisioning, enteredAt(t0)), running(), stepRunning, "ContainerStarted", 0},
		{"provisioning, container ran and exited", labIn(api.PhaseProvisioning, enteredAt(t0)), exitedWith(0), stepRunning, "ContainerStarted", 0},
		{"provisioning too long", labIn(api.PhaseProvisioning, enteredAt(t0.Add(-6*time.Minute))), nil, stepFail, "ProvisioningTimeout", 0},
		{"provisioning, app answers", labIn(api.PhaseProvisioning, enteredAt(t0)), serving("10.0.0.2:8080", workload.Ready, ""), stepRunning, "AppReady", 0},
		{"provisioning, app not answering yet", labIn(api.PhaseProvisioning, enteredAt(t0.Add(-time.Minute))), serving("10.0.0.2:8080", workload.NotReady, "connection refused"), stepWaitReady, "WaitingForApp", time.Second},
		{"provisioning, no verdict is not ready", labIn(api.PhaseProvisioning, enteredAt(t0.Add(-time.Minute))), serving("10.0.0.2:8080", workload.ReadinessUnknown, ""), stepWaitReady, "WaitingForApp", time.Second},
		{"provisioning, ready but no address yet", labIn(api.PhaseProvisioning, enteredAt(t0.Add(-time.Minute))), serving("", workload.Ready, ""), stepWaitReady, "WaitingForApp", time.Second},
		{"provisioning, recheck at the timeout", labIn(api.PhaseProvisioning, enteredAt(t0.Add(-5*time.Minute+300*time.Millisecond))), serving("10.0.0.2:8080", workload.NotReady, "connection refused"), stepWaitReady, "WaitingForApp", 301 * time.Millisecond},
		{"provisioning, app never answered", labIn(api.PhaseProvisioning, enteredAt(t0.Add(-6*time.Minute))), serving("10.0.0.2:8080", workload.NotReady, "connection refused"), stepFail, "ProvisioningTimeout", 0},
		{"provisioning, batch lab (no port) runs at start", labIn(api.PhaseProvisioning, enteredAt(t0)), running(), stepRunning, "ContainerStarted", 0},
		{"running, container running", labIn(api.PhaseRunning, startedAt(t0.Add(-time.Minute))), running(), stepNone, "", 10 * time.Second},
		{"running, expiry before next probe", labIn(api.PhaseRunning, startedAt(t0.Add(-60*time.Minute+3*time.Second))), running(), stepNone, "", 3 * time.Second},
		{"running, past duration", labIn(api.PhaseRunning, startedAt(t0.Add(-61*time.Minute))), running(), stepTimeout, "DurationExceeded", 0},
		{"running, exactly at expiry", labIn(api.PhaseRunning, startedAt(t0.Add(-60*time.Minute))), running(), stepTimeout, "DurationExceeded", 0},
		{"running, exit 0", labIn(api.PhaseRunning, startedAt(t0.Add(-time.Minute))), exitedWith(0), stepComplete, "ContainerExited", 0},
		{"running, exit 3", labIn(api.PhaseRunning, startedAt(t0.Add(-time.Minute))), exitedWith(3), stepFail, "ContainerFailed", 0},
		{"running, OOM with exit 0", labIn(api.PhaseRunning, startedAt(t0.Add(-time.Minute))), &workload.Status{State: workload.Exited, OOMKilled: true}, stepFail, "OOMKilled", 0},
		{"running, OOM reported by the engine's events", labIn(api.PhaseRunning, startedAt(t0.Add(-time.Minute))), &workload.Status{State: workload.Exited, ExitCode: 137, Reason: workload.ReasonOOMKilled}, stepFail, "OOMKilled", 0},
		{"running, lost with its node", labIn(api.PhaseRunning, startedAt(t0.Add(-time.Minute))), lost(), stepFail, "NodeLost", 0},
		{"running, evicted", labIn(api.PhaseRunning, startedAt(t0.Add(-time.Minute))), &workload.Status{State: workload.Exited, ExitCode: 137, FinishedAt: t0.Add(-time.Minute), Reason: workload.ReasonEvicted, Message: "the pod was evicted: low on memory"}, stepFail, "Evicted", 0},
		{"running, vanished", labIn(api.PhaseRunning, startedAt(t0.Add(-time.Minute))), nil, stepFail, "ContainerVanished", 0},
		{"running, killed long ago", labIn(api.PhaseRunning, startedAt(t0.Add(-time.Minute))), &workload.Status{State: workload.Exited, ExitCode: 137, FinishedAt: t0.Add(-time.Minute)}, stepFail, "ContainerKilled", 0},
		{"running, killed just now: let it settle", labIn(api.PhaseRunning, startedAt(t0.Add(-time.Minute))), &workload.Status{State: workload.Exited, ExitCode: 137, FinishedAt: t0.Add(-500 * time.Millisecond)}, stepNone, "", 1500 * time.Millisecond},
		{"running, killed 'in the future' (engine clock ahead)", labIn(api.PhaseRunning, startedAt(t0.Add(-time.Minute))), &workload.Status{State: workload.Exited, ExitCode: 143, FinishedAt: t0.Add(time.Hour)}, stepFail, "ContainerKilled", 0},
		{"running, the engine still settling the exit", labIn(api.PhaseRunning, startedAt(t0.Add(-time.Minute))), &workload.Status{State: workload.Exited, ExitCode: 143, FinishedAt: t0.Add(-time.Minute), SettlesAt: t0.Add(5 * time.Second)}, stepNone, "", 5 * time.Second},
		{"running, the engine settled the exit", labIn(api.PhaseRunning, startedAt(t0.Add(-time.Minute))), &workload.Status{State: workload.Exited, ExitCode: 143, FinishedAt: t0, SettlesAt: t0}, stepFail, "ContainerKilled", 0},
		{"running, exit 3 just now: no wait", labIn(api.PhaseRunning, startedAt(t0.Add(-time.Minute))), &workload.Status{State: workload.Exited, ExitCode: 3, FinishedAt: t0}, stepFail, "ContainerFailed", 0},
		{"running, stopped by an engine restart", labIn(api.PhaseRunning, startedAt(t0.Add(-time.Minute))), &workload.Status{State: workload.Exited, ExitCode: 143, FinishedAt: t0, Reason: workload.ReasonEngineRestart, Message: "the engine was away"}, stepRestart, workload.ReasonEngineRestart, 0},
		{"running, engine restart after its time", labIn(api.PhaseRunning, startedAt(t0.Add(-61*time.Minute))), &workload.Status{State: workload.Exited, ExitCode: 143, Reason: workload.ReasonEngineRestart}, stepTimeout, "DurationExceeded", 0},
		{"running, stop requested", labIn(api.PhaseRunning, annotate(api.AnnotationStopRequested)), running(), stepStop, "StoppedByUser", 0},
		{"running, idle timeout counts from the start", labIn(api.PhaseRunning, startedAt(t0.Add(-10*time.Minute)), idleFor(10, nil)), running(), stepIdle, "Idle", 0},
		{"running, idle stop recorded", labIn(api.PhaseRunning, startedAt(t0.Add(-10*time.Minute)), idleFor(10, nil), idleStop), running(), stepStop, "Idle", 0},
		{"running, idle stop recorded, container exited on SIGTERM", labIn(api.PhaseRunning, startedAt(t0.Add(-10*time.Minute)), idleFor(10, nil), idleStop), exitedWith(143), stepStop, "Idle", 0},
		{"running, used lately", labIn(api.PhaseRunning, startedAt(t0.Add(-30*time.Minute)), idleFor(10, at(t0.Add(-4*time.Minute)))), running(), stepNone, "", 10 * time.Second},
		{"running, idle deadline before next probe", labIn(api.PhaseRunning, startedAt(t0.Add(-30*time.Minute)), idleFor(10, at(t0.Add(-10*time.Minute+2*time.Second)))), running(), stepNone, "", 2 * time.Second},
		{"running, idle since last use", labIn(api.PhaseRunning, startedAt(t0.Add(-30*time.Minute)), idleFor(10, at(t0.Add(-11*time.Minute)))), running(), stepIdle, "Idle", 0},
		{"running, no idle timeout", labIn(api.PhaseRunning, startedAt(t0.Add(-59*time.Minute)), idleFor(0, at(t0.Add(-59*time.Minute)))), running(), stepNone, "", 10 * time.Second},
		{"running, duration beats idleness", labIn(api.PhaseRunning, startedAt(t0.Add(-61*time.Minute)), idleFor(10, nil)), running(), stepTimeout, "DurationExceeded", 0},
		{"running, app moved", labIn(api.PhaseRunning, startedAt(t0.Add(-time.Minute)), recorded("10.0.0.2:8080")), serving("10.0.0.3:8080", workload.ReadinessUnknown, ""), stepEndpoint, "EndpointChanged", 0},
		{"running, app where recorded", labIn(api.PhaseRunning, startedAt(t0.Add(-time.Minute)), recorded("10.0.0.2:8080")), serving("10.0.0.2:8080", workload.ReadinessUnknown, ""), stepNone, "", 10 * time.Second},
		{"timeout stops", labIn(api.PhaseTimeout), running(), stepStop, "DurationExceeded", 0},
		{"completed, container exited: kept output, removed", labIn(api.PhaseCompleted), exitedWith(0), stepCleanup, "Finished", 0},
		{"completed, no container", labIn(api.PhaseCompleted), nil, stepNone, "", 0},
		{"failed, container still running", labIn(api.PhaseFailed), running(), stepCleanup, "Finished", 0},
		{"failed, allocation held", labIn(api.PhaseFailed, allocated), nil, stepCleanup, "Finished", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := plan(tc.lab, tc.ctr, t0, cfg)
			if got.step != tc.want || got.reason != tc.reason || got.requeueAfter != tc.requeue {
				t.Fatalf("plan = {%s %q requeue %s}, want {%s %q requeue %s}", got.step, got.reason, got.requeueAfter, tc.want, tc.reason, tc.requeue)
			}
			if (got.step == stepFail || got.step == stepWait || got.step == stepWaitReady || got.step == stepStop || got.step == stepIdle ||
				got.step == stepPlace || got.step == stepPlaced || got.step == stepAwaitPlacement) && got.message == "" {
				t.Fatalf("%s without a message", got.step)
			}
		})
	}
}

func TestExitedMessages(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ctr    workload.Status
		reason string
		msg    string
	}{
		{workload.Status{ExitCode: 137, OOMKilled: true, Message: "boom"}, "OOMKilled",
			"the container ran out of memory: the engine's OOM killer ended it (exit code 137)"},
		// Out of memory only when the engine says so.
		{workload.Status{ExitCode: 137, Reason: workload.ReasonKilled}, "ContainerKilled",
			"the container was ended by SIGKILL (exit code 137), not by labd; the engine reports no out-of-memory kill"},
		{workload.Status{ExitCode: 143, Reason: workload.ReasonKilled, Message: "killed with SIGTERM through the engine's API at 2026-01-02T03:04:05Z"}, "ContainerKilled",
			"the container was ended by SIGTERM (exit code 143), not by labd; the engine reports no out-of-memory kill; killed with SIGTERM through the engine's API at 2026-01-02T03:04:05Z"},
		{workload.Status{ExitCode: 3}, "ContainerFailed", "the container exited with code 3"},
		{*lost(), "NodeLost", "the lab's node n2 has been Unknown (its kubelet stopped reporting) since 2026-11-25T11:58:00Z, longer than 1m0s: the lab is lost; the lab is not started again"},
		{workload.Status{ExitCode: -1, Reason: workload.ReasonNodeLost}, "NodeLost", "the machine the lab ran on was lost; the lab is not started again"},
		{workload.Status{ExitCode: -1, Reason: workload.ReasonEvicted, Message: "the pod was evicted: The node was low on resource: memory."}, "Evicted",
			"the pod was evicted: The node was low on resource: memory."},
		{workload.Status{ExitCode: 127, Message: "exec format error"}, "ContainerFailed", "the container exited with code 127: exec format error"},
		// A pod deleted in the cluster, behind labd's back.
		{workload.Status{ExitCode: -1, Reason: workload.ReasonRemoved, Message: "the pod is being deleted"}, "ContainerVanished",
			"the lab's container is being removed outside labd: the pod is being deleted"},
	} {
		tc.ctr.State = workload.Exited
		got := exited(&tc.ctr)
		if got.step != stepFail || got.reason != tc.reason || got.message != tc.msg {
			t.Errorf("exited(%+v) = %+v, want %s %q", tc.ctr, got, tc.reason, tc.msg)
		}
		if strings.Contains(got.message, "possibly") {
			t.Errorf("a guess in %q", got.message)
		}
	}
}

func TestRefuse(t *testing.T) {
	t.Parallel()
	largest := workload.Resources{MilliCPU: 2000, MemoryBytes: 4 << 30}
	lab := func(cpu, mem, image string) *api.LabInstanceRequest {
		l := labIn(api.PhasePending)
		l.Spec.LabTemplate = image
		l.Spec.ResourceLimits = &api.ResourceLimits{CPU: cpu, Memory: mem}
		return l
	}
	policy, _ := images.ParsePolicy([]string{"python:*"})
	for _, tc := range []struct {
		lab     *api.LabInstanceRequest
		largest workload.Resources
		policy  *images.Policy
		reason  string
	}{
		{lab("2", "4Gi", "python:3"), largest, nil, ""},
		{lab("8", "64Mi", "python:3"), largest, nil, "TooLargeForEngine"},
		{lab("1", "5Gi", "python:3"), largest, nil, "TooLargeForEngine"},
		{lab("8", "64Mi", "python:3"), workload.Resources{}, nil, ""}, // not known: not checked
		{lab("1", "64Mi", "ubuntu:24.04"), largest, policy, "ImageNotAllowed"},
		{lab("1", "64Mi", "python:3.12"), largest, policy, ""},
	} {
		r := refuse(tc.lab, tc.largest, tc.policy)
		got := ""
		if r != nil {
			got = r.reason
			if r.message == "" {
				t.Errorf("%s without a message", r.reason)
			}
		}
		if got != tc.reason {
			t.Errorf("refuse(%v, %v) = %q, want %q", tc.lab.Spec.ResourceLimits, tc.lab.Spec.LabTemplate, got, tc.reason)
		}
	}
	if r := refuse(lab("8", "64Mi", "python:3"), largest, nil); !strings.Contains(r.message, "cpu 8, memory 64Mi") || !strings.Contains(r.message, "cpu 2, memory 4Gi") {
		t.Fatalf("message %q", r.message)
	}
}

// admittedFor is a lab admitted with these requests.
func admittedFor(cpu, memory string) func(*api.LabInstanceRequest) {
	return func(l *api.LabInstanceRequest) {
		l.Spec.ResourceRequests = &api.Resources{CPU: cpu, Memory: memory}
		l.Status.ResourceAllocation = api.StringMap{"cpu": cpu, "memory": memory, "host": "localhost"}
	}
}

// TestPlanReadinessMessages checks what a student or teacher reads while a
// lab waits for its app, and when it never answered, and while it waits
// for a place.
func TestPlanReadinessMessages(t *testing.T) {
	t.Parallel()
	cfg := planConfig{ProvisionTimeout: 5 * time.Minute, ProbeInterval: 10 * time.Second, ReadyRecheck: time.Second}
	health := func(l *api.LabInstanceRequest) { l.Spec.ReadinessPath = "/healthz" }
	for _, tc := range []struct {
		name string
		lab  *api.LabInstanceRequest
		ctr  *workload.Status
		want string
	}{
		{"tcp", labIn(api.PhaseProvisioning, enteredAt(t0)), serving("10.0.0.2:8080", workload.NotReady, "connection refused"),
			"waiting for the app to answer on port 8080 (a TCP connection): connection refused"},
		{"http", labIn(api.PhaseProvisioning, enteredAt(t0), health), serving("10.0.0.2:8080", workload.NotReady, "GET /healthz answered 503 Service Unavailable"),
			"waiting for the app to answer on port 8080 (HTTP GET /healthz below 500): GET /healthz answered 503 Service Unavailable"},
		{"no address", labIn(api.PhaseProvisioning, enteredAt(t0)), serving("", workload.ReadinessUnknown, ""),
			"waiting for the app to answer on port 8080 (a TCP connection): the workload has no address yet"},
		{"never answered", labIn(api.PhaseProvisioning, enteredAt(t0.Add(-6*time.Minute))), serving("10.0.0.2:8080", workload.NotReady, "connection refused"),
			"the app never answered on port 8080 (a TCP connection) within 5m0s: connection refused"},
		{"ready", labIn(api.PhaseProvisioning, enteredAt(t0)), serving("10.0.0.2:8080", workload.Ready, ""), "the app answers on port 8080"},
		{"admitted, fits no node", labIn(api.PhasePending, admittedFor("100m", "64Mi")), unschedulable(),
			"admitted (allocated cpu 100m, memory 64Mi); waiting for the engine to place the workload: 0/1 nodes are available: 1 Insufficient cpu."},
		{"admitted, not tried yet", labIn(api.PhasePending, admittedFor("100m", "64Mi")), &workload.Status{State: workload.Pending, Unplaced: true},
			"admitted (allocated cpu 100m, memory 64Mi); waiting for the engine to place the workload"},
		{"admitted, placed", labIn(api.PhasePending, admittedFor("100m", "64Mi")), running(), "allocated cpu 100m, memory 64Mi"},
		{"idle", labIn(api.PhaseRunning, startedAt(t0.Add(-20*time.Minute)), idleFor(15, nil)), running(), "nobody used the lab for 15 minutes"},
	} {
		if got := plan(tc.lab, tc.ctr, t0, cfg); got.message != tc.want {
			t.Errorf("%s: message %q, want %q", tc.name, got.message, tc.want)
		}
	}
}
