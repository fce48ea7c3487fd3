package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/internal/client"
	"github.com/labrm/terraform-provider-lab/server/kubernetes"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/servertest/kubetest"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// kubeLabd runs labd on the test cluster with its default settings but
// for the runtime, the kubeconfig, the test's namespace and the given
// flags.
func kubeLabd(t *testing.T, id, dbURL string, c *kubetest.Cluster, ns string, extra ...string) *proc {
	t.Helper()
	p := runLabd(t, id, append([]string{"--database-url=" + dbURL,
		"--runtime=kubernetes", "--kubeconfig=" + c.Kubeconfig, "--kubernetes-namespace=" + ns}, extra...)...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s's warnings and errors:\n%s", id, problems(p.log()))
		}
	})
	return p
}

// problems keeps the WARN and ERROR lines of a JSON log.
func problems(log string) string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// waitPhase waits until the lab is in phase and returns it; a FAILED lab
// that should not be ends the wait at once.
func waitPhase(t *testing.T, cl *client.Client, name string, phase api.Phase, timeout time.Duration) *api.LabInstanceRequest {
	t.Helper()
	var l *api.LabInstanceRequest
	took := servertest.Eventually(t, name+" "+string(phase), timeout, func() bool {
		var err error
		l, err = cl.Get(context.Background(), api.Key{Namespace: "default", Name: name})
		if err == nil && l.Status.Phase == api.PhaseFailed && phase != api.PhaseFailed {
			t.Fatalf("%s FAILED: %s", name, l.Status.ErrorMessage)
		}
		return err == nil && l.Status.Phase == phase
	})
	t.Logf("%s %s after %s", name, phase, took.Round(time.Millisecond))
	return l
}

// openLab opens a lab through the gateway of the labd at addr, as a
// student's browser does (the token once, then its cookie), and returns
// the status and body of path below the lab's root.
func openLab(t *testing.T, p *proc, name, path string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	acc, err := p.cl.Access(ctx, api.Key{Namespace: "default", Name: name})
	if err != nil {
		t.Fatalf("access of %s: %v", name, err)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	url := fmt.Sprintf("http://%s/labs/default/%s/%s?token=%s", p.addr, name, path, acc.Token)
	resp, err := browser.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// workloadOf is the one workload of the lab with uid, failing the test
// when there is none or more than one.
func workloadOf(t *testing.T, rt *labRuntime, dbURL, uid string) workload.Status {
	t.Helper()
	var found []workload.Status
	for _, w := range rt.workloads(t, dbURL) {
		if w.Labels[workload.LabelResourceUID] == uid {
			found = append(found, w)
		}
	}
	if len(found) != 1 {
		t.Fatalf("lab %s has %d workloads, want 1: %+v", uid, len(found), found)
	}
	return found[0]
}

// scheduledBy checks that kube-scheduler bound the pod to the node: its
// Scheduled event, and the node in its spec.
func scheduledBy(t *testing.T, c *kubetest.Cluster, ns, pod string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := c.Client.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.NodeName != c.Node {
		t.Fatalf("pod %s is on node %q, want %s", pod, p.Spec.NodeName, c.Node)
	}
	servertest.Eventually(t, "the scheduler's event of pod "+pod, 10*time.Second, func() bool {
		evs, err := c.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod + ",reason=Scheduled"})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs.Items {
			if ev.ReportingController == "default-scheduler" || ev.Source.Component == "default-scheduler" {
				return true
			}
		}
		return false
	})
}

// TestKubernetesEndToEnd runs labd with --runtime kubernetes and
// otherwise its default settings (a storage class for workspaces aside)
// on the test cluster: a lab becomes a pod that kube-scheduler places and
// the kubelet starts (the leader has applied its network policy); it is
// RUNNING once the pod is Ready, answers through
// labd's gateway at its pod IP, writes a file into the student's
// workspace (a claim bound to the test's static PersistentVolume), stops
// and is deleted through the finalizer with no pod left. The student's
// next lab finds the file. labd is SIGKILLed while that lab runs; the
// labd started in its place adopts the pod (the same pod, not restarted,
// no second one) and its gateway reaches the lab.
func TestKubernetesEndToEnd(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, "kubernetes")
	c, ns := rt.cluster, rt.namespace
	class, dir := c.Volume(t, "1Gi")
	dbURL := servertest.PostgresURL(t)
	rt.removeWorkloads(t, dbURL)
	p := kubeLabd(t, "kube-e2e-1", dbURL, c, ns, "--kubernetes-storage-class="+class)
	ctx := context.Background()

	lab := func(name string, command ...string) *api.LabInstanceRequest {
		return &api.LabInstanceRequest{Metadata: api.ObjectMeta{Name: name, Namespace: "default"},
			Spec: api.Spec{LabTemplate: rt.image, StudentEmail: "ada@uni.edu", DurationMinutes: 30, Port: 8080,
				Command: command, Workspace: &api.Workspace{MountPath: "/home/student"},
				ResourceLimits: &api.ResourceLimits{CPU: "100m", Memory: "32Mi"}}}
	}
	// Week 1 leaves a note in the workspace, then serves the test page.
	week1, err := p.cl.Create(ctx, lab("week1", "sh", "-c",
		`echo "written by week1" > /home/student/note.txt && exec /lab-entrypoint.sh`))
	if err != nil {
		t.Fatal(err)
	}
	week1 = waitPhase(t, p.cl, "week1", api.PhaseRunning, 2*time.Minute)
	pod := workloadOf(t, rt, dbURL, week1.Metadata.UID)
	if pod.Readiness != workload.Ready || pod.Address == "" || !strings.HasPrefix(week1.Status.Endpoint, pod.Address+":") ||
		week1.Status.ContainerID != pod.ID {
		t.Fatalf("pod %+v for lab status %+v: want Ready, the lab's endpoint at its pod IP", pod, week1.Status)
	}
	scheduledBy(t, c, ns, pod.Name)
	// The leader's network policy admits only labd's pods to the labs.
	policy := kubernetes.PolicyName(installationID(t, dbURL))
	if _, err := c.Client.NetworkingV1().NetworkPolicies(ns).Get(ctx, policy, metav1.GetOptions{}); err != nil {
		t.Fatalf("network policy %s: %v", policy, err)
	}
	if code, body := openLab(t, p, "week1", ""); code != http.StatusOK || !strings.Contains(body, "labrm test lab is up") {
		t.Fatalf("week1 through the gateway: %d %q", code, body)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "note.txt")); err != nil || string(b) != "written by week1\n" {
		t.Fatalf("the note in the volume's directory: %q, %v", b, err)
	}

	// Stop, then delete through the finalizer: no pod left.
	if _, err := p.cl.Stop(ctx, week1.Key()); err != nil {
		t.Fatal(err)
	}
	stopped := waitPhase(t, p.cl, "week1", api.PhaseCompleted, time.Minute)
	if logs, err := p.cl.Logs(ctx, week1.Key(), 20); err != nil || !strings.Contains(logs, "lab test image: started") {
		t.Fatalf("logs of the stopped lab: %q, %v", logs, err)
	}
	if _, _, err := p.cl.Delete(ctx, week1.Key()); err != nil {
		t.Fatal(err)
	}
	servertest.Eventually(t, "week1 deleted through the finalizer", time.Minute, func() bool {
		_, err := p.cl.Get(ctx, week1.Key())
		return api.IsNotFound(err)
	})
	for _, w := range rt.workloads(t, dbURL) {
		if w.Labels[workload.LabelResourceUID] == week1.Metadata.UID {
			t.Fatalf("week1 is deleted (it was %s) and its pod %s is left: %+v", stopped.Status.Phase, w.Name, w)
		}
	}

	// Week 2 serves the workspace itself: the note is there.
	week2, err := p.cl.Create(ctx, lab("week2", "httpd", "-f", "-p", "8080", "-h", "/home/student"))
	if err != nil {
		t.Fatal(err)
	}
	week2 = waitPhase(t, p.cl, "week2", api.PhaseRunning, 2*time.Minute)
	if code, body := openLab(t, p, "week2", "note.txt"); code != http.StatusOK || body != "written by week1\n" {
		t.Fatalf("week1's note through week2's gateway: %d %q", code, body)
	}
	before := workloadOf(t, rt, dbURL, week2.Metadata.UID)

	// labd dies; another takes over the same database and cluster.
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	next := kubeLabd(t, "kube-e2e-2", dbURL, c, ns, "--kubernetes-storage-class="+class)
	servertest.Eventually(t, "the new labd to lead", time.Minute, func() bool {
		lead, _ := leaderOf(t, []*proc{next})
		return lead != nil
	})
	if code, body := openLab(t, next, "week2", "note.txt"); code != http.StatusOK || body != "written by week1\n" {
		t.Fatalf("week2 through the new labd's gateway: %d %q", code, body)
	}
	// A few of the new leader's reconciliations of week2 (probe interval
	// 10s, resync) would have replaced a pod it did not adopt.
	time.Sleep(3 * time.Second)
	after := workloadOf(t, rt, dbURL, week2.Metadata.UID)
	got, err := next.cl.Get(ctx, week2.Key())
	if err != nil {
		t.Fatal(err)
	}
	if after.ID != before.ID || !after.StartedAt.Equal(before.StartedAt) || after.State != workload.Running ||
		got.Status.Phase != api.PhaseRunning || got.Status.ContainerID != before.ID {
		t.Fatalf("after the restart: pod %s started %s (%s), lab %s on %s; before: pod %s started %s",
			after.ID, after.StartedAt, after.State, got.Status.Phase, got.Status.ContainerID, before.ID, before.StartedAt)
	}
	if len(got.Status.Transitions) != len(week2.Status.Transitions) {
		t.Fatalf("week2's history changed across the restart: %+v -> %+v", week2.Status.Transitions, got.Status.Transitions)
	}
	if _, _, err := next.cl.Delete(ctx, week2.Key()); err != nil {
		t.Fatal(err)
	}
	servertest.Eventually(t, "week2 deleted through the finalizer", time.Minute, func() bool {
		_, err := next.cl.Get(ctx, week2.Key())
		return api.IsNotFound(err)
	})
	if left := rt.workloads(t, dbURL); len(left) != 0 {
		t.Fatalf("pods left after every lab was deleted: %+v", left)
	}
}

// TestKubernetesQueue: a lab labd admits but that fits no node stays
// PENDING with kube-scheduler's reason, and runs once the lab holding the
// room is deleted. Two installations share the namespace (each labd
// reserves against the whole cluster and does not see the other's labs),
// so that the scheduler, not labd's queue, is what holds the lab back.
// The room is 60% of the memory the node has left: nothing a test beside
// this one would miss.
func TestKubernetesQueue(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, "kubernetes")
	c, ns := rt.cluster, rt.namespace
	dbX, dbY := servertest.PostgresURL(t), servertest.PostgresURL(t)
	rt.removeWorkloads(t, dbX)
	rt.removeWorkloads(t, dbY)
	x := kubeLabd(t, "kube-queue-x", dbX, c, ns)
	y := kubeLabd(t, "kube-queue-y", dbY, c, ns)
	ctx := context.Background()

	_, free := c.Unrequested(t)
	room := fmt.Sprintf("%dMi", free*6/10>>20)
	t.Logf("the node has %d MiB of memory unrequested; each lab asks for %s", free>>20, room)
	big := func(name string) *api.LabInstanceRequest {
		return &api.LabInstanceRequest{Metadata: api.ObjectMeta{Name: name, Namespace: "default"},
			Spec: api.Spec{LabTemplate: rt.image, StudentEmail: "s@u.edu", DurationMinutes: 30, Port: 8080,
				ResourceRequests: &api.ResourceRequests{CPU: "10m", Memory: room},
				ResourceLimits:   &api.ResourceLimits{CPU: "100m", Memory: room}}}
	}
	if _, err := x.cl.Create(ctx, big("holder")); err != nil {
		t.Fatal(err)
	}
	holder := waitPhase(t, x.cl, "holder", api.PhaseRunning, 2*time.Minute)

	if _, err := y.cl.Create(ctx, big("waiter")); err != nil {
		t.Fatal(err)
	}
	key := api.Key{Namespace: "default", Name: "waiter"}
	var waiter *api.LabInstanceRequest
	servertest.Eventually(t, "the scheduler's reason on the waiting lab", time.Minute, func() bool {
		var err error
		waiter, err = y.cl.Get(ctx, key)
		c := waiter.Condition(api.ConditionScheduled)
		return err == nil && c != nil && c.Reason == "Unschedulable"
	})
	cond := waiter.Condition(api.ConditionScheduled)
	t.Logf("waiter: %s: %s", cond.Reason, cond.Message)
	if waiter.Status.Phase != api.PhasePending || len(waiter.Status.ResourceAllocation) == 0 ||
		!strings.Contains(cond.Message, "Insufficient memory") || !strings.Contains(cond.Message, "admitted") {
		t.Fatalf("waiter %s, allocation %v, condition %+v: want PENDING, admitted by labd, the scheduler's reason",
			waiter.Status.Phase, waiter.Status.ResourceAllocation, cond)
	}
	// It stays so while the room is held.
	time.Sleep(3 * time.Second)
	if waiter, err := y.cl.Get(ctx, key); err != nil || waiter.Status.Phase != api.PhasePending {
		t.Fatalf("waiter while the room is held: %+v, %v", waiter.Status, err)
	}

	if _, _, err := x.cl.Delete(ctx, holder.Key()); err != nil {
		t.Fatal(err)
	}
	freedAt := time.Now()
	waiter = waitPhase(t, y.cl, "waiter", api.PhaseRunning, 2*time.Minute)
	t.Logf("waiter RUNNING %s after the holder's deletion", time.Since(freedAt).Round(time.Millisecond))
	checkHistory(t, waiter)
	if waiter.Status.Transitions[0].From != api.PhasePending || waiter.Status.Transitions[0].To != api.PhaseProvisioning {
		t.Fatalf("waiter's history %+v", waiter.Status.Transitions)
	}
	if _, _, err := y.cl.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	servertest.Eventually(t, "both labs deleted through the finalizer", time.Minute, func() bool {
		_, errX := x.cl.Get(ctx, holder.Key())
		_, errY := y.cl.Get(ctx, key)
		return api.IsNotFound(errX) && api.IsNotFound(errY)
	})
	if left := rt.list(t); len(left) != 0 {
		t.Fatalf("pods left after both labs were deleted: %+v", left)
	}
}
