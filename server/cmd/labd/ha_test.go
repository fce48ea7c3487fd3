package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/internal/client"
	"github.com/labrm/terraform-provider-lab/server/servertest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// labdBinary builds labd once per test run.
func labdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "labd-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "labd")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is one labd process.
type proc struct {
	id   string
	cmd  *exec.Cmd
	addr string
	cl   *client.Client
	done chan struct{}
	mu   sync.Mutex
	logs []string
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.logs, "\n")
}

// startLabd runs labd with the given database and fast leader settings,
// and waits for its listen address.
func startLabd(t *testing.T, id, dbURL string, extra ...string) *proc {
	t.Helper()
	return runLabd(t, id, append([]string{"--database-url=" + dbURL,
		"--lease-duration=2s", "--renew-deadline=1s", "--retry-period=200ms", "--probe-interval=500ms", "--resync-period=2s",
		"--capacity-cpu=2", "--capacity-memory=2Gi", "--access-host=127.0.0.1", "--publish-ip=127.0.0.1", "--stop-timeout=2s"}, extra...)...)
}

// runLabd runs labd with args and nothing else but a free loopback port,
// JSON logs (to read the port from) and the instance id, and waits for
// its listen address. It is stopped with SIGTERM when the test ends.
func runLabd(t *testing.T, id string, args ...string) *proc {
	t.Helper()
	p := &proc{id: id, done: make(chan struct{})}
	args = append([]string{"--listen=127.0.0.1:0", "--instance-id=" + id, "--log-format=json"}, args...)
	p.cmd = exec.Command(labdBinary(t), args...)
	p.cmd.Env = append(os.Environ(), "LAB_TOKEN=")
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.logs = append(p.logs, sc.Text())
			p.mu.Unlock()
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == "labd started" {
				a, _ := rec["listen"].(string)
				addr <- a
			}
		}
		p.cmd.Wait()
	}()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			p.cmd.Process.Kill()
			t.Errorf("%s did not stop within 30s of SIGTERM", id)
		}
	})
	select {
	case p.addr = <-addr:
	case <-p.done:
		t.Fatalf("%s exited at start:\n%s", id, p.log())
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not start:\n%s", id, p.log())
	}
	p.cl, err = client.New("http://" + p.addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// leaderOf asks every live process; it returns the one that leads when
// exactly one does and all agree on who it is.
func leaderOf(t *testing.T, ps []*proc) (*proc, api.LeaderStatus) {
	var lead *proc
	var st api.LeaderStatus
	names := map[string]bool{}
	for _, p := range ps {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s, err := p.cl.Leader(ctx)
		cancel()
		if err != nil {
			return nil, st
		}
		names[s.Leader] = true
		if s.IsLeader {
			if lead != nil {
				return nil, st // two claim leadership
			}
			lead, st = p, *s
		}
	}
	if lead == nil || len(names) != 1 || !names[lead.id] {
		return nil, st
	}
	return lead, st
}

func createRunning(t *testing.T, cl *client.Client, name, image string) *api.LabInstanceRequest {
	t.Helper()
	ctx := context.Background()
	_, err := cl.Create(ctx, &api.LabInstanceRequest{Metadata: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.Spec{LabTemplate: image, StudentEmail: "s@u.edu", DurationMinutes: 30,
			ResourceLimits: &api.ResourceLimits{CPU: "100m", Memory: "32Mi"}}})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	var l *api.LabInstanceRequest
	servertest.Eventually(t, name+" RUNNING", 60*time.Second, func() bool {
		l, err = cl.Get(ctx, api.Key{Namespace: "default", Name: name})
		return err == nil && l.Status.Phase == api.PhaseRunning
	})
	return l
}

func without(ps []*proc, gone *proc) []*proc {
	var out []*proc
	for _, p := range ps {
		if p != gone {
			out = append(out, p)
		}
	}
	return out
}

// TestHighAvailability runs three labd processes on one PostgreSQL
// database: exactly one leads; when it is SIGKILLed another takes over and
// reconciliation goes on; when the new leader's lock session is killed on
// the server, it stops leading and a third replica takes over with a newer
// epoch. It runs on each runtime (docker, kubernetes); labs are deleted
// through the finalizer with no workload left.
func TestHighAvailability(t *testing.T) {
	t.Parallel()
	eachRuntime(t, testHighAvailability)
}

func testHighAvailability(t *testing.T, rt *labRuntime) {
	image := rt.image
	dbURL := servertest.PostgresURL(t)
	rt.removeWorkloads(t, dbURL)
	ps := []*proc{startLabd(t, "replica-1", dbURL, rt.flags...), startLabd(t, "replica-2", dbURL, rt.flags...), startLabd(t, "replica-3", dbURL, rt.flags...)}

	var lead *proc
	var st api.LeaderStatus
	servertest.Eventually(t, "exactly one leader", 30*time.Second, func() bool { lead, st = leaderOf(t, ps); return lead != nil })
	createRunning(t, lead.cl, "before", image)

	// SIGKILL: no graceful release; the server frees the lock when the
	// session dies with the process.
	lead.cmd.Process.Signal(syscall.SIGKILL)
	<-lead.done
	ps = without(ps, lead)
	var next *proc
	var nextSt api.LeaderStatus
	servertest.Eventually(t, "a leader after SIGKILL", 30*time.Second, func() bool { next, nextSt = leaderOf(t, ps); return next != nil })
	if nextSt.Epoch <= st.Epoch {
		t.Fatalf("epoch after failover %d, before %d", nextSt.Epoch, st.Epoch)
	}
	createRunning(t, next.cl, "after-kill", image)

	// Kill the new leader's lock session on the server: it must stop
	// leading, and the last replica takes over.
	if n := servertest.TerminatePostgresSessions(t, dbURL, "labd-leader:"+next.id); n != 1 {
		t.Fatalf("terminated %d lock sessions of %s, want 1", n, next.id)
	}
	ctx := context.Background()
	var third *proc
	var thirdSt api.LeaderStatus
	servertest.Eventually(t, "the remaining replica to lead", 30*time.Second, func() bool {
		third, thirdSt = leaderOf(t, ps)
		return third != nil && third != next
	})
	if thirdSt.Epoch <= nextSt.Epoch {
		t.Fatalf("epoch after lost session %d, before %d", thirdSt.Epoch, nextSt.Epoch)
	}
	if !strings.Contains(next.log(), "stopped leading") {
		t.Fatalf("%s never logged that it stopped leading:\n%s", next.id, next.log())
	}
	last := createRunning(t, third.cl, "after-session-loss", image)
	// The deposed leader's replica still serves the API.
	if got, err := next.cl.Get(ctx, last.Key()); err != nil || got.Metadata.UID != last.Metadata.UID {
		t.Fatalf("deposed replica's API: %v", err)
	}
	for _, name := range []string{"before", "after-kill", "after-session-loss"} {
		if _, _, err := third.cl.Delete(ctx, api.Key{Namespace: "default", Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	servertest.Eventually(t, "labs deleted through the finalizer", 60*time.Second, func() bool {
		list, err := third.cl.List(ctx, client.ListOptions{})
		return err == nil && len(list.Items) == 0
	})
	if left := rt.workloads(t, dbURL); len(left) != 0 {
		t.Fatalf("%d workloads left after every lab was deleted: %+v", len(left), left)
	}
}
