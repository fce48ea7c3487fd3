package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/reconcile"
	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// TestRequestsReservedLimitsApplied: admission reserves a lab's requests
// (resource_allocation, the ledger) while Docker caps its container at
// the limits (docker inspect: NanoCPUs, Memory).
func TestRequestsReservedLimitsApplied(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	h.create("sized", func(l *api.LabInstanceRequest) {
		l.Spec.ResourceLimits = &api.ResourceLimits{CPU: "0.5", Memory: "64Mi"}
		l.Spec.ResourceRequests = &api.ResourceRequests{CPU: "100m", Memory: "32Mi"}
	})
	l := h.waitPhase("sized", api.PhaseRunning)
	if a := l.Status.ResourceAllocation; a["cpu"] != "100m" || a["memory"] != "32Mi" {
		t.Fatalf("allocation %v, want the requests", a)
	}
	ins, err := h.rt.Client().ContainerInspect(context.Background(), l.Status.ContainerID)
	if err != nil {
		t.Fatal(err)
	}
	if ins.HostConfig.NanoCPUs != 500_000_000 || ins.HostConfig.Memory != 64<<20 {
		t.Fatalf("docker inspect: NanoCPUs %d, Memory %d; want the limits 0.5 CPU, 64Mi", ins.HostConfig.NanoCPUs, ins.HostConfig.Memory)
	}
	st, ok := h.ctrl.Capacity(10)
	if !ok || st.Reserved.CPU != "100m" || st.Reserved.Memory != "32Mi" || st.Admitted != 1 || st.Total.CPU != "4" {
		t.Fatalf("capacity %+v (leading %v), want 100m/32Mi of 4 CPUs reserved by 1 lab", st, ok)
	}
}

// TestQueueOrderAndPositions fills the capacity, queues three labs and
// checks their places (conditions and the capacity status) and that
// releasing capacity admits the next labs at once: the periodic resync is
// an hour away, so nothing but the ledger's wake-ups can start them.
func TestQueueOrderAndPositions(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *reconcile.Config) {
		c.Capacity = workload.Resources{MilliCPU: 1000, MemoryBytes: 1 << 30}
		c.ResyncPeriod = time.Hour
	})
	half := func(l *api.LabInstanceRequest) {
		l.Spec.ResourceLimits = &api.ResourceLimits{CPU: "1", Memory: "32Mi"}
		l.Spec.ResourceRequests = &api.ResourceRequests{CPU: "500m", Memory: "32Mi"}
	}
	h.create("whole", func(l *api.LabInstanceRequest) {
		l.Spec.ResourceLimits = &api.ResourceLimits{CPU: "1", Memory: "32Mi"}
		l.Spec.ResourceRequests = &api.ResourceRequests{CPU: "1", Memory: "32Mi"}
	})
	h.waitPhase("whole", api.PhaseRunning)
	for _, n := range []string{"q1", "q2", "q3"} {
		h.create(n, half)
		time.Sleep(5 * time.Millisecond) // distinct creation times: the order
	}
	for i, n := range []string{"q1", "q2", "q3"} {
		want := fmt.Sprintf("position %d of ", i+1)
		l := h.waitFor(n, "its place in the queue", func(l *api.LabInstanceRequest) bool {
			c := l.Condition(api.ConditionScheduled)
			return c != nil && c.Reason == api.ReasonInsufficientCapacity && strings.HasPrefix(c.Message, want)
		})
		msg := l.Condition(api.ConditionScheduled).Message
		if i == 0 && !strings.Contains(msg, "needs cpu 500m, memory 32Mi, free cpu 0") {
			t.Fatalf("head's message %q does not say what it waits for", msg)
		}
		if i > 0 && !strings.Contains(msg, "ahead of it") {
			t.Fatalf("message %q", msg)
		}
	}
	st, _ := h.ctrl.Capacity(10)
	var order []string
	for _, q := range st.Queue {
		order = append(order, fmt.Sprintf("%d:%s", q.Position, q.Name))
	}
	if st.Queued != 3 || strings.Join(order, " ") != "1:q1 2:q2 3:q3" || st.Free.CPU != "0" {
		t.Fatalf("capacity queue %v (%+v)", order, st)
	}
	// Releasing the whole CPU admits q1 and q2 at once; q3 moves to the head.
	start := time.Now()
	if _, err := h.db.UpdateLab(context.Background(), api.Key{Namespace: "default", Name: "whole"}, store.WriteOptions{},
		func(x *api.LabInstanceRequest) error { return api.RequestStop(x, time.Now()) }); err != nil {
		t.Fatal(err)
	}
	h.waitPhase("q1", api.PhaseRunning)
	h.waitPhase("q2", api.PhaseRunning)
	t.Logf("q1 and q2 RUNNING %v after the release", time.Since(start).Round(time.Millisecond))
	h.waitFor("q3", "the head of the queue", func(l *api.LabInstanceRequest) bool {
		c := l.Condition(api.ConditionScheduled)
		return c != nil && strings.HasPrefix(c.Message, "position 1 of 1")
	})
	if l, _ := h.db.GetLab(context.Background(), api.Key{Namespace: "default", Name: "q3"}); l.Status.Phase != api.PhasePending {
		t.Fatalf("q3 is %s with no room for it", l.Status.Phase)
	}
}

// TestEndedLabKeepsNoContainer: a lab that ended (here FAILED, its
// container exited 3) keeps no container once its cleanup ran, and its
// output is saved in the store.
func TestEndedLabKeepsNoContainer(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	h.create("brief", func(l *api.LabInstanceRequest) {
		l.Spec.Environment = api.StringMap{"LAB_EXIT_AFTER": "1", "LAB_EXIT_CODE": "3"}
	})
	l := h.waitPhase("brief", api.PhaseFailed)
	h.waitNoContainer(l.Metadata.UID)
	logs, found, err := h.db.LabLogs(context.Background(), l.Metadata.UID)
	if err != nil || !found || !strings.Contains(logs.Output, "exiting with code 3") || !strings.Contains(logs.Output, "stderr is captured too") {
		t.Fatalf("saved output %+v found=%v err=%v", logs, found, err)
	}
}

// TestGCLeavesWorkspaces: the garbage collector removes orphaned
// containers but never a workspace, held by a lab or not.
func TestGCLeavesWorkspaces(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *reconcile.Config) { c.GCGrace = time.Millisecond })
	ctx := context.Background()
	id, _ := h.db.InstallationID(ctx)
	held := h.create("held", func(l *api.LabInstanceRequest) {
		l.Spec.StudentEmail = "held@university.edu"
		l.Spec.Workspace = &api.Workspace{MountPath: "/home/student"}
	})
	h.waitPhase("held", api.PhaseRunning)
	// A workspace whose labs are all gone, and an orphaned container.
	lone := workload.WorkspaceName(id, "default", "gone@university.edu")
	orphan := "lab-orphan-" + strings.ReplaceAll(held.Metadata.UID, "-", "")[:12]
	_, err := h.rt.Ensure(ctx, workload.Spec{Name: orphan, Image: h.image, Limits: workload.Resources{MilliCPU: 100, MemoryBytes: 32 << 20},
		Labels: map[string]string{workload.LabelManagedBy: workload.ManagedBy, workload.LabelResourceUID: "no-such-uid",
			workload.LabelNamespace: "default", workload.LabelName: "no-such-lab", workload.LabelInstallation: id, workload.LabelSpecHash: "x"},
		Workspace: &workload.Mount{Workspace: lone, Path: "/data", Labels: workload.WorkspaceLabels(id, "default", "gone@university.edu")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.rt.RemoveWorkspace(context.Background(), lone) })
	h.waitNoContainerNamed(orphan)
	time.Sleep(time.Second) // several more GC rounds
	all, err := h.rt.ListWorkspaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, w := range all {
		have[w.Name] = true
	}
	if !have[lone] || !have[workload.WorkspaceName(id, "default", "held@university.edu")] {
		t.Fatalf("after GC, workspaces %v: want the held one and the lone one", all)
	}
}

func (h *harness) waitNoContainerNamed(name string) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := h.rt.Inspect(context.Background(), name); errors.Is(err, workload.ErrNotFound) {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("container %s never removed", name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dockerExec runs a shell command in a container with the docker CLI.
func dockerExec(t *testing.T, container, script string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "exec", container, "sh", "-c", script).CombinedOutput()
	return string(out), err
}

// TestWorkspaceSurvivesLabs: a file a student writes in the workspace is
// there in the student's next lab in the namespace, not in another
// student's, and not in the same student's lab in another namespace.
func TestWorkspaceSurvivesLabs(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	ws := func(student, ns string) func(*api.LabInstanceRequest) {
		return func(l *api.LabInstanceRequest) {
			l.Spec.StudentEmail = student
			l.Spec.Workspace = &api.Workspace{MountPath: "/home/student"}
			l.Metadata.Namespace = ns
		}
	}
	first := h.create("alice-1", ws("Alice@University.edu", "default"))
	l := h.waitPhase("alice-1", api.PhaseRunning)
	if out, err := dockerExec(t, l.Status.ContainerID, "echo week one > /home/student/notes.txt"); err != nil {
		t.Fatalf("write in the lab: %v: %s", err, out)
	}
	if _, err := h.db.UpdateLab(context.Background(), l.Key(), store.WriteOptions{}, func(x *api.LabInstanceRequest) error {
		return api.RequestStop(x, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	h.waitPhase("alice-1", api.PhaseCompleted)
	h.waitNoContainer(first.Metadata.UID)

	h.create("alice-2", ws("alice@university.edu", "default"))
	l2 := h.waitPhase("alice-2", api.PhaseRunning)
	if out, err := dockerExec(t, l2.Status.ContainerID, "cat /home/student/notes.txt"); err != nil || out != "week one\n" {
		t.Fatalf("alice's next lab reads %q (%v), want her notes", out, err)
	}
	h.create("bob-1", ws("bob@university.edu", "default"))
	b := h.waitPhase("bob-1", api.PhaseRunning)
	if out, err := dockerExec(t, b.Status.ContainerID, "ls -A /home/student"); err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("bob's workspace holds %q (%v), want it empty", out, err)
	}
	id, _ := h.db.InstallationID(context.Background())
	all, _ := h.rt.ListWorkspaces(context.Background())
	for _, w := range all {
		if w.Name == workload.WorkspaceName(id, "default", "alice@university.edu") {
			if w.Labels[workload.LabelStudent] != "alice@university.edu" || w.Labels[workload.LabelInstallation] != id || w.Labels[workload.LabelNamespace] != "default" {
				t.Fatalf("workspace labels %v", w.Labels)
			}
			return
		}
	}
	t.Fatalf("alice's workspace not among %v", all)
}
