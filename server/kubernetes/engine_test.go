package kubernetes_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/labrm/terraform-provider-lab/server/kubernetes"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// TestLabLifecycle: a lab's pod is scheduled and started by the cluster,
// becomes Ready and answers on its pod IP; the pod is made as the engine
// says (hardened, limits, labels); changes are notified; Stop ends it and
// keeps its exit and logs; Remove deletes it.
func TestLabLifecycle(t *testing.T) {
	ev := newEnv(t, nil)
	ctx := ctxT(t, 2*time.Minute)
	spec := ev.spec(map[string]string{"LAB_TYPE": "python-basics"})
	start := time.Now()
	st := ev.ensure(t, spec)
	if st.Name != spec.Name || st.ID == "" || st.State != workload.Pending || st.Readiness != workload.NotReady {
		t.Fatalf("Ensure of a new pod = %+v, want it pending, not ready", st)
	}
	ready := ev.waitStatus(t, spec.Name, "running and ready", time.Minute, func(s workload.Status) bool {
		return s.State == workload.Running && s.Readiness == workload.Ready
	})
	t.Logf("ready %s after Ensure", time.Since(start).Round(time.Millisecond))
	if ready.ID != st.ID || ready.Address == "" || ready.StartedAt.IsZero() || ready.Image != ev.c.Image {
		t.Fatalf("ready status %+v", ready)
	}
	if ready.Labels[workload.LabelResourceUID] != spec.Labels[workload.LabelResourceUID] ||
		ready.Labels[workload.LabelInstallation] != ev.inst || ready.Labels[workload.LabelManagedBy] != workload.ManagedBy {
		t.Fatalf("labels %v, want the spec's own keys back", ready.Labels)
	}

	// From this process to the pod, over the test bridge.
	url := "http://" + net.JoinHostPort(ready.Address, "8080") + "/"
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "labrm test lab is up") {
		t.Fatalf("GET %s = %d %q", url, resp.StatusCode, body)
	}

	// The pod as the API server keeps it.
	p := ev.pod(t, spec.Name)
	c := p.Spec.Containers[0]
	if p.Spec.RestartPolicy != corev1.RestartPolicyNever || *p.Spec.AutomountServiceAccountToken || *p.Spec.EnableServiceLinks ||
		*p.Spec.TerminationGracePeriodSeconds != 2 || len(p.Spec.Volumes) != 0 {
		t.Errorf("pod spec: restart %s, token %v, service links %v, grace %d, volumes %v", p.Spec.RestartPolicy,
			*p.Spec.AutomountServiceAccountToken, *p.Spec.EnableServiceLinks, *p.Spec.TerminationGracePeriodSeconds, p.Spec.Volumes)
	}
	if sc := c.SecurityContext; *sc.AllowPrivilegeEscalation || sc.Capabilities.Drop[0] != "ALL" ||
		sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container security context %+v", sc)
	}
	if !c.Resources.Limits.Cpu().Equal(resource.MustParse("20m")) || !c.Resources.Requests.Memory().Equal(resource.MustParse("32Mi")) ||
		p.Status.QOSClass != corev1.PodQOSGuaranteed {
		t.Errorf("resources %+v, QoS %s: want limits = requests (Guaranteed)", c.Resources, p.Status.QOSClass)
	}
	if p.Labels[kubernetes.LabelPrefix+workload.LabelResourceUID] != spec.Labels[workload.LabelResourceUID] {
		t.Errorf("pod labels %v", p.Labels)
	}
	if got, ok := ev.rec.event(spec.Name, start); !ok || got.Kind != workload.EventChanged ||
		got.Labels[workload.LabelNamespace] != "default" || got.Labels[workload.LabelName] != spec.Labels[workload.LabelName] {
		t.Errorf("event while the pod was created and started: %+v, %v; want a change naming the lab", got, ok)
	}

	// Stop keeps the pod, its exit and its logs.
	stopAt := time.Now()
	if err := ev.e.Stop(ctx, spec.Name, 2*time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	took := time.Since(stopAt)
	st, err = ev.e.Inspect(ctx, spec.Name)
	if err != nil || st.State != workload.Exited || st.Reason != kubernetes.ReasonStopped || st.Message != "" ||
		(st.ExitCode != 143 && st.ExitCode != 137) || st.ID != ready.ID || st.FinishedAt.IsZero() {
		t.Fatalf("after Stop (%s): %+v, %v; want exited 143 or 137, reason Stopped, the same pod", took, st, err)
	}
	t.Logf("Stop took %s (grace 2s)", took.Round(time.Millisecond))
	if ev.rec.since(spec.Name, stopAt).IsZero() {
		t.Error("no change was notified while the pod was stopped")
	}
	logs, err := ev.e.Logs(ctx, spec.Name, 0)
	if err != nil || !strings.Contains(logs, "lab test image: started") || !strings.Contains(logs, "terminated by signal") {
		t.Fatalf("logs of the stopped lab = %q, %v", logs, err)
	}
	if err := ev.e.Stop(ctx, spec.Name, time.Second); err != nil {
		t.Fatalf("Stop of a stopped lab: %v", err)
	}

	if err := ev.e.Remove(ctx, spec.Name); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := ev.e.Inspect(ctx, spec.Name); !notFound(err) {
		t.Fatalf("Inspect after Remove = %v, want ErrNotFound", err)
	}
	if _, err := ev.e.Logs(ctx, spec.Name, 0); !notFound(err) {
		t.Fatalf("Logs after Remove = %v, want ErrNotFound", err)
	}
	for _, op := range []func() error{
		func() error { return ev.e.Remove(ctx, spec.Name) },
		func() error { return ev.e.Stop(ctx, spec.Name, time.Second) },
	} {
		if err := op(); err != nil {
			t.Fatalf("Remove or Stop of a removed lab: %v", err)
		}
	}
}

// TestUnschedulable: a lab that fits no node stays Pending with the
// scheduler's reason; it has no logs yet; Stop deletes it.
func TestUnschedulable(t *testing.T) {
	ev := newEnv(t, nil)
	ctx := ctxT(t, time.Minute)
	node, err := ev.c.Client.CoreV1().Nodes().Get(ctx, ev.c.Node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := ev.spec(nil)
	spec.Limits.MilliCPU = node.Status.Allocatable.Cpu().MilliValue() + 1000
	ev.ensure(t, spec)
	st := ev.waitStatus(t, spec.Name, "unschedulable", 30*time.Second, func(s workload.Status) bool { return s.Reason != "" })
	if st.State != workload.Pending || st.Reason != "Unschedulable" || !strings.Contains(st.Message, "Insufficient cpu") {
		t.Fatalf("status %+v, want Pending, Unschedulable, the scheduler's message", st)
	}
	t.Logf("scheduler says: %s", st.Message)
	if logs, err := ev.e.Logs(ctx, spec.Name, 10); err != nil || logs != "" {
		t.Fatalf("Logs of an unscheduled lab = %q, %v; want none", logs, err)
	}
	if err := ev.e.Stop(ctx, spec.Name, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := ev.e.Inspect(ctx, spec.Name); !notFound(err) {
		t.Fatalf("an unscheduled lab after Stop: %v, want ErrNotFound (deleted)", err)
	}
}

// TestMissingImage: an image the node does not have and may not pull is a
// permanent failure, known within seconds.
func TestMissingImage(t *testing.T) {
	ev := newEnv(t, nil)
	ctx := ctxT(t, time.Minute)
	spec := ev.spec(nil)
	spec.Image = "labrm/does-not-exist:" + randHex(4)
	start := time.Now()
	if _, err := ev.e.Ensure(ctx, spec); err != nil {
		t.Fatalf("first Ensure: %v (the kubelet has not tried yet)", err)
	}
	t.Cleanup(func() { ev.e.Remove(context.Background(), spec.Name) })
	var err error
	for err == nil && time.Since(start) < 30*time.Second {
		time.Sleep(50 * time.Millisecond)
		_, err = ev.e.Ensure(ctx, spec)
	}
	if !errors.Is(err, workload.ErrImage) || workload.Permanent(err) == nil || workload.Permanent(err).Reason != "ImageUnavailable" {
		t.Fatalf("Ensure of a missing image after %s: %v, want a permanent ErrImage", time.Since(start), err)
	}
	if !strings.Contains(err.Error(), spec.Image) || !strings.Contains(err.Error(), "ErrImageNeverPull") {
		t.Errorf("error does not say which image and why: %v", err)
	}
	t.Logf("failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
	st, err := ev.e.Inspect(ctx, spec.Name)
	if err != nil || st.State != workload.Pending || st.Reason != "ErrImageNeverPull" {
		t.Fatalf("Inspect: %+v, %v", st, err)
	}
}

// TestExitCodes: a lab that exits is Exited with its code and reason; a
// clean exit carries no message.
func TestExitCodes(t *testing.T) {
	ev := newEnv(t, nil)
	for _, tc := range []struct {
		code   string
		want   int
		reason string
	}{{"0", 0, "Completed"}, {"3", 3, "Error"}} {
		t.Run("exit "+tc.code, func(t *testing.T) {
			t.Parallel()
			spec := ev.spec(map[string]string{"LAB_EXIT_AFTER": "0", "LAB_EXIT_CODE": tc.code})
			ev.ensure(t, spec)
			st := ev.waitStatus(t, spec.Name, "exited", time.Minute, func(s workload.Status) bool { return s.State == workload.Exited })
			// The watch that updated the cache told Changes too.
			seen := time.Now()
			if at := ev.rec.since(spec.Name, seen.Add(-time.Second)); at.IsZero() || at.After(seen.Add(time.Second)) {
				t.Errorf("the exit was not notified within a second of the cache seeing it (delivered at %v, seen %v)", at, seen)
			}
			if st.ExitCode != tc.want || st.Reason != tc.reason || st.Message != "" || st.OOMKilled || st.FinishedAt.IsZero() {
				t.Fatalf("status %+v, want exit %d, reason %s, no message", st, tc.want, tc.reason)
			}
			logs, err := ev.e.Logs(ctxT(t, 30*time.Second), spec.Name, 1)
			if err != nil || logs != "lab test image: exiting with code "+tc.code+" after 0s\n" {
				t.Fatalf("last log line %q, %v", logs, err)
			}
		})
	}
}

// TestOOMKilled: a lab that outgrows its memory limit is killed by the
// kernel and reported so.
func TestOOMKilled(t *testing.T) {
	ev := newEnv(t, nil)
	spec := ev.spec(map[string]string{"LAB_ALLOC_MB": "64"})
	spec.Limits.MemoryBytes = 16 << 20
	ev.ensure(t, spec)
	// The runtime may report the exit a moment before the OOM event.
	// Filling the memory is the test image's shell building a string
	// under the lab's small CPU limit: about 20 s alone, over a minute
	// once seen under a loaded CI run.
	st := ev.waitStatus(t, spec.Name, "killed for memory", 3*time.Minute, func(s workload.Status) bool {
		return s.State == workload.Exited && (s.OOMKilled || s.ExitCode != 137)
	})
	if !st.OOMKilled || st.ExitCode != 137 || st.Reason != "OOMKilled" {
		t.Fatalf("status %+v, want OOMKilled, exit 137", st)
	}
}

// TestLogs: the tail of a running lab's output, stdout and stderr
// together.
func TestLogs(t *testing.T) {
	ev := newEnv(t, nil)
	ctx := ctxT(t, time.Minute)
	spec := ev.spec(nil)
	ev.ensure(t, spec)
	ev.waitStatus(t, spec.Name, "ready", time.Minute, func(s workload.Status) bool { return s.Readiness == workload.Ready })
	var all string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(all, "serving") && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var err error
		if all, err = ev.e.Logs(ctx, spec.Name, 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"lab test image: started", "stderr is captured too", "serving /www on port 8080"} {
		if !strings.Contains(all, want) {
			t.Errorf("logs %q lack %q", all, want)
		}
	}
	// stdout and stderr are two pipes: their lines keep the order the
	// node received them in, whichever that was.
	lines := strings.SplitAfter(strings.TrimSuffix(all, "\n"), "\n")
	for n := 1; n <= len(lines); n++ {
		tail, err := ev.e.Logs(ctx, spec.Name, n)
		if want := strings.Join(lines[len(lines)-n:], "") + "\n"; err != nil || tail != want {
			t.Fatalf("Logs(%d) = %q, %v; want %q", n, tail, err, want)
		}
	}
	if _, err := ev.e.Logs(ctx, "lab-missing", 1); !notFound(err) {
		t.Fatalf("Logs of no pod = %v, want ErrNotFound", err)
	}
}

// TestUnreachable: an API server that does not answer is a transient
// error, never "not found", and closing the engine does not hang.
func TestUnreachable(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t, 30*time.Second)
	e, err := kubernetes.New(ctx, kubernetes.Config{
		RESTConfig:   &rest.Config{Host: "https://127.0.0.1:1", Timeout: 2 * time.Second},
		Installation: "inst",
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Ping(ctx); err == nil {
		t.Error("Ping of an unreachable API server succeeded")
	}
	if _, err := e.Capacity(ctx); err == nil {
		t.Error("Capacity of an unreachable API server succeeded")
	}
	if _, err := e.Inspect(ctx, "lab-x"); err == nil || notFound(err) || workload.Permanent(err) != nil {
		t.Errorf("Inspect on an unreachable API server = %v, want a transient error", err)
	}
	closed := make(chan struct{})
	go func() { e.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs")
	}
	if _, ok := <-e.Events(); ok {
		t.Error("Events is open after Close")
	}
	if _, err := kubernetes.New(ctx, kubernetes.Config{RESTConfig: &rest.Config{Host: "https://127.0.0.1:1"}}); err == nil {
		t.Error("New without an installation id succeeded")
	}
}

// TestPing: the test cluster's API server is ready.
func TestPing(t *testing.T) {
	ev := newEnv(t, nil)
	if err := ev.e.Ping(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
}
