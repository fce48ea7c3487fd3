package docker_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/labrm/terraform-provider-lab/server/docker"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// Tests here run against the real engine (scripts/testenv.sh starts it and
// builds the test image); servertest.Docker skips them without one, and
// fails them under CI=true.

func newEngine(t *testing.T, cfg docker.Config) (*docker.Engine, string) {
	t.Helper()
	img := servertest.Docker(t)
	cfg.Logger = slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r, err := docker.New(cfg)
	if err != nil {
		t.Fatalf("docker.New: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r, img
}

// tWriter sends the runtime's log lines to the test log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newSpec returns a spec with a unique name whose container is removed
// when the test ends.
func newSpec(t *testing.T, r *docker.Engine, img string, env map[string]string) workload.Spec {
	t.Helper()
	name := "labrm-test-" + randHex(6)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := r.Remove(ctx, name); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return workload.Spec{
		Name:  name,
		Image: img,
		Env:   env,
		Labels: map[string]string{
			workload.LabelResourceUID: randHex(16),
			workload.LabelSpecHash:    "hash-1",
			workload.LabelNamespace:   "test",
			workload.LabelName:        name,
			workload.LabelLeaderEpoch: "1",
		},
		Limits:      workload.Resources{MilliCPU: 500, MemoryBytes: 64 << 20},
		PidsLimit:   64,
		StopTimeout: 5 * time.Second,
	}
}

// waitState polls Inspect until ok(state) or the deadline.
func waitState(t *testing.T, r *docker.Engine, name string, timeout time.Duration, what string, ok func(workload.Status) bool) workload.Status {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := r.Inspect(ctxT(t, 10*time.Second), name)
		if err == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s: not %s after %s: last state %+v, err %v", name, what, timeout, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitLogs polls the container's logs until they contain want.
func waitLogs(t *testing.T, r *docker.Engine, name, want string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		logs, err := r.Logs(ctxT(t, 10*time.Second), name, 100)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(logs, want) {
			return logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("logs of %s never showed %q: %q", name, want, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func exited(st workload.Status) bool {
	return st.State == workload.Exited && st.Detail == container.StateExited
}

func TestPing(t *testing.T) {
	t.Parallel()
	r, _ := newEngine(t, docker.Config{})
	if err := r.Ping(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestPingUnreachableEngine(t *testing.T) {
	t.Parallel()
	r, err := docker.New(docker.Config{Host: "unix:///nonexistent/docker.sock"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := ctxT(t, 10*time.Second)
	if err := r.Ping(ctx); err == nil {
		t.Fatal("Ping of a missing socket succeeded")
	}
	_, err = r.Ensure(ctx, workload.Spec{Name: "labrm-test-x", Image: "labrm/busybox:test"})
	if err == nil || errors.Is(err, workload.ErrImage) || workload.Permanent(err) != nil {
		t.Fatalf("Ensure on an unreachable engine: err = %v, want an error that is not ErrImage (retryable)", err)
	}
}

func TestEnsureRunsAndServes(t *testing.T) {
	t.Parallel()
	r, img := newEngine(t, docker.Config{})
	spec := newSpec(t, r, img, map[string]string{"LAB_TYPE": "python-basics"})
	ctx := ctxT(t, 2*time.Minute)

	st, err := r.Ensure(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != workload.Running || st.Detail != container.StateRunning || st.ID == "" || st.Name != spec.Name {
		t.Fatalf("state after Ensure = %+v, want running %s", st, spec.Name)
	}
	if st.StartedAt.IsZero() || st.Created.IsZero() {
		t.Errorf("times not reported: started %v created %v", st.StartedAt, st.Created)
	}
	if st.Labels[workload.LabelManagedBy] != workload.ManagedBy || st.Labels[workload.LabelResourceUID] != spec.Labels[workload.LabelResourceUID] {
		t.Errorf("labels = %v", st.Labels)
	}
	// Nothing is published; the app's port is the image's only exposed
	// one, reached at the container's address on the lab network.
	if len(st.Ports) != 0 {
		t.Fatalf("ports published by default: %v", st.Ports)
	}
	if st.Port != 8080 {
		t.Fatalf("Port = %d, want the image's only exposed port 8080", st.Port)
	}
	// Its own address on the engine's network, where a proxy on that
	// network would reach it, is the one the engine reports.
	raw, err := r.Client().ContainerInspect(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, n := range raw.NetworkSettings.Networks {
		addrs = append(addrs, n.IPAddress)
	}
	if net.ParseIP(st.Address) == nil || !slices.Contains(addrs, st.Address) {
		t.Fatalf("Address = %q, want one of the container's network addresses %v", st.Address, addrs)
	}
	if n := raw.NetworkSettings.Networks[docker.DefaultNetwork]; n == nil || st.Endpoint != net.JoinHostPort(n.IPAddress, "8080") {
		t.Fatalf("Endpoint = %q, want the address on %s, port 8080 (networks %v)", st.Endpoint, docker.DefaultNetwork, addrs)
	}
	url := "http://" + st.Endpoint

	// The lab answers at its endpoint (httpd may need a moment).
	deadline := time.Now().Add(30 * time.Second)
	for {
		body, err := get(ctx, url+"/")
		if err == nil && strings.Contains(body, "labrm test lab is up") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: body %q, err %v", url, body, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A second Ensure adopts: same container, not restarted.
	again, err := r.Ensure(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != st.ID || !again.StartedAt.Equal(st.StartedAt) {
		t.Fatalf("second Ensure: id %s started %v, want %s started %v", again.ID, again.StartedAt, st.ID, st.StartedAt)
	}
}

func get(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestEnsurePublishIP(t *testing.T) {
	t.Parallel()
	r, img := newEngine(t, docker.Config{PublishIP: "127.0.0.1"})
	spec := newSpec(t, r, img, nil)
	ctx := ctxT(t, 2*time.Minute)
	st, err := r.Ensure(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := r.Client().ContainerInspect(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	b := raw.NetworkSettings.Ports["8080/tcp"]
	if len(b) == 0 || b[0].HostIP != "127.0.0.1" || b[0].HostPort == "" {
		t.Fatalf("8080/tcp bindings = %+v, want one on 127.0.0.1", b)
	}
	if raw.HostConfig.PublishAllPorts {
		t.Error("PublishAllPorts set although PublishIP is")
	}
	if st.Endpoint != "127.0.0.1:"+b[0].HostPort || st.Ports["8080/tcp"] != b[0].HostPort {
		t.Errorf("Endpoint = %q, ports %v: want 127.0.0.1:%s", st.Endpoint, st.Ports, b[0].HostPort)
	}
	// Only the app's port, and on that address only.
	if len(raw.HostConfig.PortBindings) != 1 || raw.NetworkSettings.Networks[docker.DefaultNetwork] == nil {
		t.Errorf("bindings %v, networks %v: want the app port only, on the lab network", raw.HostConfig.PortBindings, raw.NetworkSettings.Networks)
	}
	waitHTTP(t, "http://"+st.Endpoint+"/", "labrm test lab is up")
}

// A crash between "create container" and "record its id" leaves a
// container the controller does not know about; Ensure must adopt it and
// not create a second one, whether it was started or not.
func TestEnsureAdoptsAfterCrash(t *testing.T) {
	t.Parallel()
	for _, started := range []bool{false, true} {
		t.Run(map[bool]string{false: "created", true: "running"}[started], func(t *testing.T) {
			t.Parallel()
			r, img := newEngine(t, docker.Config{})
			spec := newSpec(t, r, img, nil)
			ctx := ctxT(t, 2*time.Minute)
			labels := map[string]string{workload.LabelManagedBy: workload.ManagedBy}
			for k, v := range spec.Labels {
				labels[k] = v
			}
			labels[workload.LabelLeaderEpoch] = "0" // an older leader made it
			made, err := r.Client().ContainerCreate(ctx, &container.Config{Image: img, Labels: labels}, nil, nil, nil, spec.Name)
			if err != nil {
				t.Fatal(err)
			}
			if started {
				if err := r.Client().ContainerStart(ctx, made.ID, container.StartOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			st, err := r.Ensure(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			if st.ID != made.ID {
				t.Fatalf("Ensure made container %s, want adoption of %s", st.ID, made.ID)
			}
			if st.State != workload.Running {
				t.Fatalf("adopted container not running: %+v", st)
			}
			all, err := r.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, c := range all {
				if c.Name == spec.Name || c.Labels[workload.LabelResourceUID] == spec.Labels[workload.LabelResourceUID] {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%d containers for the lab, want 1", n)
			}
		})
	}
}

func TestEnsureReplacesOnSpecChange(t *testing.T) {
	t.Parallel()
	r, img := newEngine(t, docker.Config{})
	spec := newSpec(t, r, img, map[string]string{"GEN": "1"})
	ctx := ctxT(t, 2*time.Minute)
	first, err := r.Ensure(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	spec.Labels[workload.LabelSpecHash] = "hash-2"
	spec.Env = map[string]string{"GEN": "2"}
	second, err := r.Ensure(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if second.ID == first.ID {
		t.Fatal("spec hash changed but the container was adopted")
	}
	if second.Labels[workload.LabelSpecHash] != "hash-2" || second.State != workload.Running {
		t.Fatalf("replacement = %+v", second)
	}
	if _, err := r.Client().ContainerInspect(ctx, first.ID); err == nil {
		t.Fatalf("old container %s still exists", first.ID)
	}
	raw, err := r.Client().ContainerInspect(ctx, second.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(raw.Config.Env, "GEN=2") {
		t.Fatalf("replacement env = %v, want GEN=2", raw.Config.Env)
	}

	// A changed leader epoch alone is not a different lab.
	spec.Labels[workload.LabelLeaderEpoch] = "2"
	third, err := r.Ensure(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if third.ID != second.ID {
		t.Fatal("a new leader epoch replaced the container")
	}
}

func TestEnsureRefusesForeignContainer(t *testing.T) {
	t.Parallel()
	r, img := newEngine(t, docker.Config{})
	spec := newSpec(t, r, img, nil)
	ctx := ctxT(t, time.Minute)
	foreign, err := r.Client().ContainerCreate(ctx, &container.Config{Image: img}, nil, nil, nil, spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Ensure(ctx, spec)
	if err == nil || !strings.Contains(err.Error(), "not managed by labd") {
		t.Fatalf("Ensure over a foreign container: err = %v", err)
	}
	if _, err := r.Client().ContainerInspect(ctx, foreign.ID); err != nil {
		t.Fatalf("foreign container was touched: %v", err)
	}
	// Created, never started: pending.
	if st, err := r.Inspect(ctx, spec.Name); err != nil || st.State != workload.Pending || st.Detail != container.StateCreated || !st.StartedAt.IsZero() {
		t.Fatalf("a created container: %+v, %v; want pending", st, err)
	}
}

func TestEnsureConcurrent(t *testing.T) {
	t.Parallel()
	r, img := newEngine(t, docker.Config{})
	spec := newSpec(t, r, img, nil)
	ctx := ctxT(t, 2*time.Minute)
	const n = 8
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			st, err := r.Ensure(ctx, spec)
			ids[i], errs[i] = st.ID, err
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Ensure %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("concurrent Ensures returned containers %s and %s", ids[0], ids[i])
		}
	}
	st, err := r.Inspect(ctx, spec.Name)
	if err != nil || st.State != workload.Running {
		t.Fatalf("after concurrent Ensures: %+v, %v", st, err)
	}
}

func TestExitCodeReported(t *testing.T) {
	t.Parallel()
	r, img := newEngine(t, docker.Config{})
	spec := newSpec(t, r, img, map[string]string{"LAB_EXIT_AFTER": "1", "LAB_EXIT_CODE": "3"})
	ctx := ctxT(t, 2*time.Minute)
	if _, err := r.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, r, spec.Name, 30*time.Second, "exited", exited)
	if st.State != workload.Exited || st.ExitCode != 3 || st.OOMKilled || st.Message != "" {
		t.Fatalf("exited state = %+v, want exit code 3, not OOM, no error", st)
	}
	if st.FinishedAt.Before(st.StartedAt) || st.FinishedAt.IsZero() {
		t.Fatalf("started %v finished %v", st.StartedAt, st.FinishedAt)
	}
	logs, err := r.Logs(ctx, spec.Name, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs, "exiting with code 3 after 1s") {
		t.Fatalf("logs = %q", logs)
	}

	// An exited lab is reported, never silently restarted.
	again, err := r.Ensure(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != st.ID || again.State == workload.Running || again.ExitCode != 3 || !again.StartedAt.Equal(st.StartedAt) {
		t.Fatalf("Ensure of an exited lab = %+v, want it as it was: %+v", again, st)
	}
}

func TestOOMKilledReported(t *testing.T) {
	t.Parallel()
	r, img := newEngine(t, docker.Config{})
	info, err := r.Client().Info(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !info.MemoryLimit {
		t.Skip("this engine does not support memory limits (no memory cgroup)")
	}
	spec := newSpec(t, r, img, map[string]string{"LAB_ALLOC_MB": "256"})
	spec.Limits.MemoryBytes = 32 << 20
	ctx := ctxT(t, 2*time.Minute)
	if _, err := r.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, r, spec.Name, 60*time.Second, "exited", exited)
	if st.ExitCode != 137 {
		t.Fatalf("state = %+v, want killed (exit code 137) by the OOM killer", st)
	}
	// On cgroup v1 the engine can process the exit before the OOM event
	// and then never sets the flag (seen here once under heavy load).
	if !st.OOMKilled {
		t.Logf("exit code 137 but OOMKilled=false: the engine lost the OOM event")
	}
}

func TestLogs(t *testing.T) {
	t.Parallel()
	r, img := newEngine(t, docker.Config{})
	spec := newSpec(t, r, img, nil)
	ctx := ctxT(t, 2*time.Minute)
	if _, err := r.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	logs := waitLogs(t, r, spec.Name, "serving /www on port 8080")
	for _, want := range []string{"lab test image: started", "stderr is captured too"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q: %q", want, logs)
		}
	}
	if strings.Contains(logs, "\x01") || strings.Contains(logs, "\x02") {
		t.Errorf("logs not demultiplexed: %q", logs)
	}
	last, err := r.Logs(ctx, spec.Name, 1)
	if err != nil {
		t.Fatal(err)
	}
	// stdout and stderr are separate pipes, so which of the start-up lines
	// came last is the engine's call; Logs(1) must be that one line.
	lines := strings.SplitAfter(logs, "\n")
	if len(lines) < 2 || last != lines[len(lines)-2] {
		t.Fatalf("Logs(1) = %q, want the last line of %q", last, logs)
	}
	if _, err := r.Logs(ctx, "labrm-test-missing-"+randHex(4), 10); !errors.Is(err, workload.ErrNotFound) {
		t.Fatalf("Logs of a missing container: %v, want ErrNotFound", err)
	}
}

func TestStopAndRemoveAreIdempotent(t *testing.T) {
	t.Parallel()
	r, img := newEngine(t, docker.Config{})
	spec := newSpec(t, r, img, nil)
	ctx := ctxT(t, 2*time.Minute)
	if _, err := r.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	// PID 1 ignores SIGTERM until the entrypoint has set its trap, which
	// it does before its first line of output.
	waitLogs(t, r, spec.Name, "lab test image: started")
	start := time.Now()
	if err := r.Stop(ctx, spec.Name, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// The image exits on SIGTERM: well before the SIGKILL deadline, with
	// the trap's exit code.
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("Stop took %s: SIGTERM not honoured", took)
	}
	st, err := r.Inspect(ctx, spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	if st.State == workload.Running || st.ExitCode != 143 {
		t.Fatalf("after Stop: %+v, want exited 143", st)
	}
	if err := r.Stop(ctx, spec.Name, time.Second); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := r.Remove(ctx, spec.Name); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove(ctx, spec.Name); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	if err := r.Stop(ctx, spec.Name, time.Second); err != nil {
		t.Fatalf("Stop of a removed container: %v", err)
	}
	if _, err := r.Inspect(ctx, spec.Name); !errors.Is(err, workload.ErrNotFound) {
		t.Fatalf("Inspect after Remove: %v, want ErrNotFound", err)
	}
}

func TestRemoveConcurrentlyOnRunningContainer(t *testing.T) {
	t.Parallel()
	r, img := newEngine(t, docker.Config{})
	spec := newSpec(t, r, img, nil)
	ctx := ctxT(t, 2*time.Minute)
	if _, err := r.Ensure(ctx, spec); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() { errs[i] = r.Remove(ctx, spec.Name) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Remove %d: %v", i, err)
		}
	}
	if _, err := r.Inspect(ctx, spec.Name); !errors.Is(err, workload.ErrNotFound) {
		t.Fatalf("Inspect after Remove: %v, want ErrNotFound", err)
	}
}

func TestLimitsApplied(t *testing.T) {
	t.Parallel()
	r, img := newEngine(t, docker.Config{})
	spec := newSpec(t, r, img, nil)
	spec.Limits = workload.Resources{MilliCPU: 250, MemoryBytes: 96 << 20}
	spec.PidsLimit = 50
	spec.StopTimeout = 7 * time.Second
	ctx := ctxT(t, 2*time.Minute)
	st, err := r.Ensure(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := r.Client().ContainerInspect(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	hc := raw.HostConfig
	if hc.NanoCPUs != 250_000_000 || hc.Memory != 96<<20 || hc.MemorySwap != 96<<20 {
		t.Errorf("cpu/memory = %d/%d/%d, want %d/%d/%d", hc.NanoCPUs, hc.Memory, hc.MemorySwap, 250_000_000, 96<<20, 96<<20)
	}
	if hc.PidsLimit == nil || *hc.PidsLimit != 50 {
		t.Errorf("pids limit = %v, want 50", hc.PidsLimit)
	}
	if hc.Privileged || len(hc.Binds) > 0 || len(hc.Mounts) > 0 || len(raw.Mounts) > 0 {
		t.Errorf("privileged %v binds %v mounts %v/%v", hc.Privileged, hc.Binds, hc.Mounts, raw.Mounts)
	}
	if !slices.Contains(hc.SecurityOpt, "no-new-privileges:true") {
		t.Errorf("security opts = %v", hc.SecurityOpt)
	}
	if hc.PublishAllPorts || len(hc.PortBindings) > 0 || hc.RestartPolicy.Name != container.RestartPolicyDisabled {
		t.Errorf("publish all %v bindings %v restart %q: want nothing published, no restart", hc.PublishAllPorts, hc.PortBindings, hc.RestartPolicy.Name)
	}
	if hc.NetworkMode != docker.DefaultNetwork {
		t.Errorf("network mode %q, want the lab network %s", hc.NetworkMode, docker.DefaultNetwork)
	}
	// Every capability is dropped and NET_RAW not given back
	// (TestHardeningProfile shows the whole profile).
	if !slices.Equal(hc.CapDrop, []string{"ALL"}) || slices.Contains(hc.CapAdd, "NET_RAW") || slices.Contains(hc.CapAdd, "CAP_NET_RAW") {
		t.Errorf("cap drop = %v, add = %v", hc.CapDrop, hc.CapAdd)
	}
	if raw.Config.StopTimeout == nil || *raw.Config.StopTimeout != 7 {
		t.Errorf("stop timeout = %v, want 7", raw.Config.StopTimeout)
	}
	// That the engine enforces the memory limit is shown by TestOOMKilledReported.
}

func TestDefaultPidsLimit(t *testing.T) {
	t.Parallel()
	r, img := newEngine(t, docker.Config{DefaultPidsLimit: 77})
	spec := newSpec(t, r, img, nil)
	spec.PidsLimit = 0
	ctx := ctxT(t, 2*time.Minute)
	st, err := r.Ensure(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := r.Client().ContainerInspect(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p := raw.HostConfig.PidsLimit; p == nil || *p != 77 {
		t.Fatalf("pids limit = %v, want the default 77", p)
	}
}

func TestMissingImage(t *testing.T) {
	t.Parallel()
	r, img := newEngine(t, docker.Config{PullTimeout: 30 * time.Second})
	spec := newSpec(t, r, img, nil)
	spec.Image = "labrm/does-not-exist:" + randHex(4)
	ctx := ctxT(t, 2*time.Minute)
	start := time.Now()
	_, err := r.Ensure(ctx, spec)
	if !errors.Is(err, workload.ErrImage) {
		t.Fatalf("Ensure with a missing image: %v, want ErrImage", err)
	}
	if f := workload.Permanent(err); f == nil || f.Reason != "ImageUnavailable" {
		t.Fatalf("a missing image is not a permanent ImageUnavailable failure: %v", f)
	}
	if !strings.Contains(err.Error(), spec.Image) || !strings.Contains(err.Error(), "pulling it failed") {
		t.Fatalf("error does not say which image and why: %v", err)
	}
	if took := time.Since(start); took > 35*time.Second {
		t.Errorf("failing took %s", took)
	}
	t.Logf("missing image error (%s): %v", time.Since(start), err)
	if _, err := r.Inspect(ctx, spec.Name); !errors.Is(err, workload.ErrNotFound) {
		t.Fatalf("a container was created for a missing image: %v", err)
	}
	// Another lab of the class, with the same image: the same answer
	// (within docker.PullRetry, without asking the registry again).
	other := newSpec(t, r, img, nil)
	other.Image = spec.Image
	if _, err2 := r.Ensure(ctx, other); !errors.Is(err2, workload.ErrImage) || err2.Error() != err.Error() {
		t.Fatalf("second lab with the missing image: %v, want %v", err2, err)
	}
}

func TestListOnlyOurs(t *testing.T) {
	t.Parallel()
	r, img := newEngine(t, docker.Config{})
	ctx := ctxT(t, 2*time.Minute)
	a := newSpec(t, r, img, nil)
	b := newSpec(t, r, img, map[string]string{"LAB_EXIT_AFTER": "0"})
	for _, s := range []workload.Spec{a, b} {
		if _, err := r.Ensure(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	foreign := "labrm-test-foreign-" + randHex(4)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		r.Remove(ctx, foreign)
	})
	if _, err := r.Client().ContainerCreate(ctx, &container.Config{Image: img, Labels: map[string]string{"managed-by": "someone-else"}}, nil, nil, nil, foreign); err != nil {
		t.Fatal(err)
	}
	waitState(t, r, b.Name, 30*time.Second, "exited", exited)

	all, err := r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]workload.Status{}
	for _, c := range all {
		if c.Labels[workload.LabelManagedBy] != workload.ManagedBy {
			t.Errorf("List returned %s labelled %v", c.Name, c.Labels)
		}
		got[c.Name] = c
	}
	if _, ok := got[foreign]; ok {
		t.Error("List returned a container not managed by labd")
	}
	if c, ok := got[a.Name]; !ok || c.State != workload.Running || c.Address == "" || len(c.Ports) != 0 || c.Labels[workload.LabelResourceUID] != a.Labels[workload.LabelResourceUID] {
		t.Errorf("running container %s in List: %+v (found %v)", a.Name, c, ok)
	}
	if c, ok := got[b.Name]; !ok || c.State == workload.Running || c.Detail != container.StateExited {
		t.Errorf("exited container %s in List: %+v (found %v)", b.Name, c, ok)
	}
}

func TestCapacity(t *testing.T) {
	t.Parallel()
	r, _ := newEngine(t, docker.Config{})
	ctx := ctxT(t, 10*time.Second)
	got, err := r.Capacity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	info, err := r.Client().Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.MilliCPU != int64(info.NCPU)*1000 || got.MemoryBytes != info.MemTotal || got.MilliCPU <= 0 || got.MemoryBytes <= 0 {
		t.Fatalf("Capacity = %+v, engine reports %d CPUs and %d bytes", got, info.NCPU, info.MemTotal)
	}
	unreachable, err := docker.New(docker.Config{Host: "tcp://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer unreachable.Close()
	if _, err := unreachable.Capacity(ctx); err == nil {
		t.Fatal("Capacity of an unreachable engine succeeded")
	}
}

func TestHasImage(t *testing.T) {
	t.Parallel()
	r, img := newEngine(t, docker.Config{})
	ctx := ctxT(t, 10*time.Second)
	if ok, err := r.HasImage(ctx, img); err != nil || !ok {
		t.Fatalf("HasImage(%s) = %v, %v", img, ok, err)
	}
	if ok, err := r.HasImage(ctx, "labrm/does-not-exist:"+randHex(4)); err != nil || ok {
		t.Fatalf("HasImage(missing) = %v, %v", ok, err)
	}
}
