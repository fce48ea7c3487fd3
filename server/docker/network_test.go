package docker_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/labrm/terraform-provider-lab/server/docker"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// waitHTTP polls url until its body contains want (30 s at most).
func waitHTTP(t *testing.T, url, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		body, err := get(ctxT(t, 10*time.Second), url)
		if err == nil && strings.Contains(body, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: body %q, err %v; want %q", url, body, err, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// execIn runs cmd in the running container id and returns its exit code
// and output.
func execIn(t *testing.T, r *docker.Engine, id string, cmd ...string) (int, string) {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	cli := r.Client()
	ex, err := cli.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatalf("exec %v: %v", cmd, err)
	}
	att, err := cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		t.Fatalf("exec %v: %v", cmd, err)
	}
	defer att.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, att.Reader); err != nil {
		t.Fatalf("exec %v: %v", cmd, err)
	}
	for {
		st, err := cli.ContainerExecInspect(ctx, ex.ID)
		if err != nil {
			t.Fatalf("exec %v: %v", cmd, err)
		}
		if !st.Running {
			return st.ExitCode, out.String()
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLabNetworkIsolation: labs join the labd-managed network, made with
// traffic between containers off; one lab cannot reach another's port,
// while labd (the host) reaches both; nothing is published on the host.
func TestLabNetworkIsolation(t *testing.T) {
	t.Parallel()
	r, img := newEngine(t, docker.Config{})
	ctx := ctxT(t, 2*time.Minute)
	a, err := r.Ensure(ctx, newSpec(t, r, img, nil))
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Ensure(ctx, newSpec(t, r, img, nil))
	if err != nil {
		t.Fatal(err)
	}
	n, err := r.Client().NetworkInspect(ctx, docker.DefaultNetwork, network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Driver != "bridge" || n.Options["com.docker.network.bridge.enable_icc"] != "false" || n.Labels[workload.LabelManagedBy] != workload.ManagedBy {
		t.Fatalf("lab network %s: driver %s, options %v, labels %v", n.Name, n.Driver, n.Options, n.Labels)
	}
	// The host (labd's side) reaches both apps.
	waitHTTP(t, "http://"+a.Endpoint+"/", "labrm test lab is up")
	waitHTTP(t, "http://"+b.Endpoint+"/", "labrm test lab is up")
	// From inside lab A: its own app answers (the probe works), lab B's
	// address and port do not.
	if code, out := execIn(t, r, a.ID, "sh", "-c", "echo | nc -w 2 "+hostOf(t, a.Endpoint)+" 8080"); code != 0 {
		t.Fatalf("lab A cannot reach its own app (%d): %s", code, out)
	}
	if code, out := execIn(t, r, a.ID, "sh", "-c", "echo | nc -w 2 "+hostOf(t, b.Endpoint)+" 8080"); code == 0 {
		t.Fatalf("lab A reached lab B at %s: %s", b.Endpoint, out)
	}
	for _, st := range []workload.Status{a, b} {
		raw, err := r.Client().ContainerInspect(ctx, st.ID)
		if err != nil {
			t.Fatal(err)
		}
		// What `docker port` prints: the bindings of the running container.
		for p, bs := range raw.NetworkSettings.Ports {
			if len(bs) > 0 {
				t.Errorf("docker port %s: %s -> %v, want nothing published", st.Name, p, bs)
			}
		}
		if len(raw.NetworkSettings.Networks) != 1 || raw.NetworkSettings.Networks[docker.DefaultNetwork] == nil {
			t.Errorf("%s joins %v, want only %s", st.Name, raw.NetworkSettings.Networks, docker.DefaultNetwork)
		}
		noHostListener(t, hostOf(t, st.Endpoint))
	}
}

func hostOf(t *testing.T, endpoint string) string {
	t.Helper()
	h, _, err := net.SplitHostPort(endpoint)
	if err != nil || net.ParseIP(h) == nil {
		t.Fatalf("endpoint %q is not ip:port", endpoint)
	}
	return h
}

// noHostListener checks, where the engine runs on this machine, that no
// docker-proxy forwards a host port to the container at ip: nothing of
// the lab listens on the host, on 0.0.0.0 or elsewhere.
func noHostListener(t *testing.T, ip string) {
	t.Helper()
	if h := os.Getenv("DOCKER_HOST"); h != "" && !strings.HasPrefix(h, "unix://") {
		return // a remote engine: its processes are not ours to see
	}
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range cmdlines {
		b, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(b, []byte("docker-proxy")) {
			continue
		}
		args := strings.Split(string(b), "\x00")
		for i := range args[:len(args)-1] {
			if args[i] == "-container-ip" && args[i+1] == ip {
				t.Errorf("a docker-proxy listens on the host for the lab at %s: %q", ip, strings.Join(args, " "))
			}
		}
	}
}

// TestEnsureCommandArgsPort runs an image that would exit at once (the
// test image told to exit) as a web app by command, args and port.
func TestEnsureCommandArgsPort(t *testing.T) {
	t.Parallel()
	r, img := newEngine(t, docker.Config{})
	ctx := ctxT(t, 2*time.Minute)
	exitAtOnce := map[string]string{"LAB_EXIT_AFTER": "0", "LAB_EXIT_CODE": "0"}

	spec := newSpec(t, r, img, exitAtOnce)
	spec.Command = []string{"httpd"}
	spec.Args = []string{"-f", "-p", "9090", "-h", "/www"}
	spec.Port = 9090
	st, err := r.Ensure(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if st.Port != 9090 || !strings.HasSuffix(st.Endpoint, ":9090") {
		t.Fatalf("Port %d, Endpoint %q: want 9090", st.Port, st.Endpoint)
	}
	waitHTTP(t, "http://"+st.Endpoint+"/", "labrm test lab is up")
	raw, err := r.Client().ContainerInspect(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(raw.Config.Entrypoint, " ") + " | " + strings.Join(raw.Config.Cmd, " "); got != "httpd | -f -p 9090 -h /www" {
		t.Fatalf("entrypoint | cmd = %q", got)
	}
	// Still running after the default entrypoint would have exited.
	time.Sleep(time.Second)
	if st, err := r.Inspect(ctx, spec.Name); err != nil || st.State != workload.Running || st.Endpoint == "" {
		t.Fatalf("after a second: %+v, %v", st, err)
	}

	// Command alone: the image's command is not appended (Kubernetes'
	// rule), so the shell runs exactly what it is given.
	only := newSpec(t, r, img, exitAtOnce)
	only.Command = []string{"/bin/sh", "-c", "echo command-only; exec httpd -f -p 8080 -h /www"}
	st, err = r.Ensure(ctx, only)
	if err != nil {
		t.Fatal(err)
	}
	if st.Port != 8080 {
		t.Fatalf("Port %d, want the image's exposed 8080", st.Port)
	}
	waitHTTP(t, "http://"+st.Endpoint+"/", "labrm test lab is up")
	waitLogs(t, r, only.Name, "command-only")
	if raw, err := r.Client().ContainerInspect(ctx, st.ID); err != nil || len(raw.Config.Cmd) != 0 {
		t.Fatalf("cmd with a command alone = %v (%v), want none", raw.Config.Cmd, err)
	}
}

// TestPublishIPMustBeOneAddress: publishing is on one host address, never
// on every interface.
func TestPublishIPMustBeOneAddress(t *testing.T) {
	t.Parallel()
	for _, ip := range []string{"0.0.0.0", "::", "localhost", "10.0.0"} {
		if _, err := docker.New(docker.Config{PublishIP: ip}); err == nil {
			t.Errorf("PublishIP %q accepted", ip)
		}
	}
	for _, ip := range []string{"127.0.0.1", "::1", "10.1.2.3"} {
		if err := docker.CheckPublishIP(ip); err != nil {
			t.Errorf("PublishIP %q: %v", ip, err)
		}
	}
}

// TestLabNetworkMustIsolate: a network of the configured name on which
// containers can talk to each other is refused, not used.
func TestLabNetworkMustIsolate(t *testing.T) {
	t.Parallel()
	name := "labrm-test-open-" + randHex(4)
	r, img := newEngine(t, docker.Config{Network: name})
	ctx := ctxT(t, time.Minute)
	if _, err := r.Client().NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Client().NetworkRemove(context.Background(), name) })
	_, err := r.Ensure(ctx, newSpec(t, r, img, nil))
	if err == nil || !strings.Contains(err.Error(), "allows traffic between containers") {
		t.Fatalf("Ensure on a network with ICC on: %v", err)
	}
}
