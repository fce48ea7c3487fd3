package docker_test

import (
	"context"
	"errors"

	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/labrm/terraform-provider-lab/server/docker"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// runMonitor follows the engine's events for the rest of the test.
func runMonitor(t *testing.T, r *docker.Engine) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// TestKilledThroughAPI: a container killed by someone else through the
// engine's API is reported as killed, with the signal and who sent it, and
// not as out of memory; the exit reaches Events at once with the lab's
// labels.
func TestKilledThroughAPI(t *testing.T) {
	t.Parallel()
	r, img := newEngine(t, docker.Config{})
	runMonitor(t, r)
	spec := newSpec(t, r, img, nil)
	ctx := ctxT(t, 2*time.Minute)
	st, err := r.Ensure(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the event stream is connected by now
	if err := r.Client().ContainerKill(ctx, st.ID, "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	st = waitState(t, r, spec.Name, 30*time.Second, "exited", exited)
	if st.ExitCode != 137 || st.OOMKilled || st.Reason != workload.ReasonKilled || !strings.Contains(st.Message, "killed with SIGKILL through the engine's API") {
		t.Fatalf("status %+v, want Killed with SIGKILL through the API", st)
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev := <-r.Events():
			if ev.Kind == workload.EventExited && ev.Name == spec.Name {
				if ev.Labels[workload.LabelName] != spec.Labels[workload.LabelName] || ev.Labels[workload.LabelNamespace] != "test" {
					t.Fatalf("exit event without the lab's labels: %+v", ev)
				}
				return
			}
		case <-deadline:
			t.Fatal("no exit event")
		}
	}
}

// TestKilledByItsOwnSignal: without an API kill on record (the process got
// a signal from elsewhere), the exit is still named by its signal.
func TestKilledByItsOwnSignal(t *testing.T) {
	t.Parallel()
	r, img := newEngine(t, docker.Config{})
	spec := newSpec(t, r, img, map[string]string{"LAB_EXIT_AFTER": "0", "LAB_EXIT_CODE": "143"})
	if _, err := r.Ensure(ctxT(t, time.Minute), spec); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, r, spec.Name, 30*time.Second, "exited", exited)
	if st.ExitCode != 143 || st.Reason != workload.ReasonKilled || st.Message != "" {
		t.Fatalf("status %+v, want Killed (143) with no API kill recorded", st)
	}
}

// TestRejectedIsPermanent: a CPU limit above the engine's CPUs is refused
// by the engine as invalid: workload.ErrRejected with the engine's words,
// and no container left behind.
func TestRejectedIsPermanent(t *testing.T) {
	t.Parallel()
	r, img := newEngine(t, docker.Config{})
	ctx := ctxT(t, time.Minute)
	largest, err := r.Largest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	spec := newSpec(t, r, img, nil)
	spec.Limits.MilliCPU = largest.MilliCPU + 1000
	_, err = r.Ensure(ctx, spec)
	if f := workload.Permanent(err); f != workload.ErrRejected {
		t.Fatalf("Ensure with cpu %d on a %d-millicore engine: %v (permanent %v), want ErrRejected", spec.Limits.MilliCPU, largest.MilliCPU, err, f)
	}
	if !strings.Contains(err.Error(), "CPU") {
		t.Fatalf("the engine's reason is lost: %v", err)
	}
	if _, err := r.Inspect(ctx, spec.Name); !errors.Is(err, workload.ErrNotFound) {
		t.Fatalf("a rejected create left a container: %v", err)
	}
}

// TestRestartSameContainer: Restart starts a stopped container again, the
// same one with its file system; a missing one is created anew; a running
// one is left alone.
func TestRestartSameContainer(t *testing.T) {
	t.Parallel()
	r, img := newEngine(t, docker.Config{})
	spec := newSpec(t, r, img, nil)
	ctx := ctxT(t, 2*time.Minute)
	st, err := r.Ensure(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := shIn(t, st.ID, "echo kept > /work-file && echo ok"); err != nil || out != "ok" {
		t.Fatalf("write: %v %s", err, out)
	}
	secs := 1
	if err := r.Client().ContainerStop(ctx, st.ID, container.StopOptions{Timeout: &secs}); err != nil {
		t.Fatal(err)
	}
	again, err := r.Restart(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != st.ID || again.State != workload.Running {
		t.Fatalf("restart: %+v, want the same container %s running", again, st.ID)
	}
	if out, _ := shIn(t, again.ID, "cat /work-file"); out != "kept" {
		t.Fatalf("the file system was not kept: %q", out)
	}
	same, err := r.Restart(ctx, spec)
	if err != nil || same.ID != st.ID || !same.StartedAt.Equal(again.StartedAt) {
		t.Fatalf("restart of a running container: %+v %v", same, err)
	}
	if err := r.Remove(ctx, spec.Name); err != nil {
		t.Fatal(err)
	}
	fresh, err := r.Restart(ctx, spec)
	if err != nil || fresh.ID == st.ID || fresh.State != workload.Running {
		t.Fatalf("restart of a removed container: %+v %v", fresh, err)
	}

}
