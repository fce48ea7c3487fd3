package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/internal/client"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// startedAt is a container's State.StartedAt, as docker inspect says.
func inspectContainer(t *testing.T, run func(...string) (string, error), id string) (running bool, startedAt string) {
	t.Helper()
	out, err := run("inspect", "--format", "{{json .State}}", id)
	if err != nil {
		t.Fatalf("docker inspect %s: %v %s", id, err, out)
	}
	var st struct {
		Running   bool
		StartedAt string
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("docker inspect %s: %v %s", id, err, out)
	}
	return st.Running, st.StartedAt
}

// TestFaultEngineRestart restarts a dockerd (a private one, in its own
// network namespace: the shared engine serves every other test) under
// running labs. Without live-restore the engine stops their containers:
// labd sees the engine go and come back, starts each container again (the
// same container), keeps the labs RUNNING and records the interruption
// in the Interrupted condition and the lab's history. With live-restore
// the containers keep running and labd adopts them untouched.
func TestFaultEngineRestart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		liveRestore bool
	}{{"stopped-by-restart", false}, {"live-restore", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := servertest.StartPrivateDocker(t, tc.liveRestore)
			dbURL := servertest.SQLiteURL(t)
			p := startLabd(t, "engine-"+tc.name, dbURL, "--docker-host="+d.Host, "--log-level=debug")
			t.Cleanup(func() {
				if t.Failed() {
					list, err := p.cl.List(context.Background(), client.ListOptions{})
					if err == nil {
						for _, l := range list.Items {
							b, _ := json.Marshal(l.Status)
							t.Logf("%s: %s", l.Metadata.Name, b)
						}
					}
					t.Logf("labd's log:\n%s\ndockerd's log:\n%s", p.log(), d.Log())
				}
			})
			var before []*api.LabInstanceRequest
			started := map[string]string{}
			for _, name := range []string{"one", "two", "three"} {
				l := createRunning(t, p.cl, name, d.Image())
				before = append(before, l)
				_, started[name] = inspectContainer(t, d.Docker, l.Status.ContainerID)
			}

			restart := time.Now()
			d.Restart()
			t.Logf("dockerd restarted in %s", time.Since(restart).Round(time.Millisecond))

			ctx := context.Background()
			for _, b := range before {
				var l *api.LabInstanceRequest
				servertest.Eventually(t, b.Metadata.Name+" running again", 90*time.Second, func() bool {
					var err error
					l, err = p.cl.Get(ctx, b.Key())
					if err != nil || l.Status.Phase != api.PhaseRunning {
						return false
					}
					running, _ := inspectContainer(t, d.Docker, l.Status.ContainerID)
					return running && (tc.liveRestore || l.Condition(api.ConditionInterrupted) != nil)
				})
				if l.Status.ContainerID != b.Status.ContainerID {
					t.Errorf("%s: container %s, was %s (the same one should run again)", b.Metadata.Name, l.Status.ContainerID, b.Status.ContainerID)
				}
				if !l.Status.StartedAt.Equal(*b.Status.StartedAt) {
					t.Errorf("%s: started_at moved from %s to %s: its time must count from its first start", b.Metadata.Name, b.Status.StartedAt, l.Status.StartedAt)
				}
				_, startedNow := inspectContainer(t, d.Docker, l.Status.ContainerID)
				c := l.Condition(api.ConditionInterrupted)
				hist, err := p.cl.Events(ctx, b.Key())
				if err != nil {
					t.Fatal(err)
				}
				interrupted := false
				for _, ev := range hist.Items {
					interrupted = interrupted || strings.HasPrefix(ev.Message, "interrupted: ")
				}
				if tc.liveRestore {
					if c != nil || interrupted || startedNow != started[b.Metadata.Name] {
						t.Errorf("%s: with live-restore the container must be adopted untouched: condition %+v, started %s then %s", b.Metadata.Name, c, started[b.Metadata.Name], startedNow)
					}
					continue
				}
				if c.Status != api.ConditionTrue || c.Reason != workload.ReasonEngineRestart || !strings.Contains(c.Message, "started it again") || !interrupted {
					t.Errorf("%s: interruption not recorded: condition %+v, history has it: %v", b.Metadata.Name, c, interrupted)
				}
				if startedNow == started[b.Metadata.Name] {
					t.Errorf("%s: the container was not started again", b.Metadata.Name)
				}
				if len(l.Status.Transitions) != len(b.Status.Transitions) {
					t.Errorf("%s: phase moved: %+v", b.Metadata.Name, l.Status.Transitions)
				}
			}
			if n := strings.Count(p.log(), `"msg":"the engine answers again after an outage"`); n < 1 {
				t.Errorf("labd did not notice the engine's outage")
			}
		})
	}
}

// TestFaultContainerKilledAndRemoved kills one lab's container and
// removes another's behind labd's back, and starves a third of memory:
// each lab FAILS with the true reason, and only the one the engine
// reports as out of memory says so. It runs on each runtime (docker,
// kubernetes): there the container is killed on the node and the pod
// deleted at once.
func TestFaultContainerKilledAndRemoved(t *testing.T) {
	t.Parallel()
	eachRuntime(t, testContainerKilledAndRemoved)
}

func testContainerKilledAndRemoved(t *testing.T, rt *labRuntime) {
	image := rt.image
	dbURL := servertest.PostgresURL(t)
	rt.removeWorkloads(t, dbURL)
	p := startLabd(t, "killed", dbURL, rt.flags...)
	// Out of memory, as the engine reports it, meanwhile.
	oomBody := strings.Replace(labBody("oom", image, map[string]string{"LAB_ALLOC_MB": "256"}), `"16Mi"`, `"32Mi"`, 1)
	if r := rawDo("POST", "http://"+p.addr+"/api/lab-instances/", "application/json", oomBody); r.status != 201 {
		t.Fatalf("create oom: %d %s", r.status, r.body)
	}
	killed := createRunning(t, p.cl, "killed", image)
	removed := createRunning(t, p.cl, "removed", image)
	time.Sleep(500 * time.Millisecond) // labd's event stream is up by now
	rt.kill(t, killed)
	rt.removeBehind(t, removed)

	ctx := context.Background()
	failed := func(l *api.LabInstanceRequest) (*api.LabInstanceRequest, api.Transition) {
		var got *api.LabInstanceRequest
		servertest.Eventually(t, l.Metadata.Name+" FAILED", 60*time.Second, func() bool {
			var err error
			got, err = p.cl.Get(ctx, l.Key())
			return err == nil && got.Status.Phase == api.PhaseFailed
		})
		return got, got.Status.Transitions[len(got.Status.Transitions)-1]
	}
	k, tr := failed(killed)
	if tr.Reason != "ContainerKilled" || !strings.Contains(k.Status.ErrorMessage, "SIGKILL (exit code 137)") ||
		strings.Contains(k.Status.ErrorMessage, "through the engine's API") != rt.killsThroughAPI || strings.Contains(k.Status.ErrorMessage, "possibly") {
		t.Errorf("killed: %s %q", tr.Reason, k.Status.ErrorMessage)
	}
	r, tr := failed(removed)
	if tr.Reason != "ContainerVanished" || !strings.Contains(r.Status.ErrorMessage, "removed outside labd") {
		t.Errorf("removed: %s %q", tr.Reason, r.Status.ErrorMessage)
	}

	// Out of memory as the engine reports it (where it can: cgroup v1
	// engines sometimes lose the OOM event; then the exit is named by its
	// signal, never guessed).
	o, tr := failed(&api.LabInstanceRequest{Metadata: api.ObjectMeta{Name: "oom", Namespace: "default"}})
	switch tr.Reason {
	case "OOMKilled":
		if !strings.Contains(o.Status.ErrorMessage, "ran out of memory") {
			t.Errorf("oom: %q", o.Status.ErrorMessage)
		}
	case "ContainerKilled":
		t.Logf("the engine did not report the OOM kill; the lab says: %s", o.Status.ErrorMessage)
		if strings.Contains(o.Status.ErrorMessage, "out of memory:") {
			t.Errorf("oom guessed: %q", o.Status.ErrorMessage)
		}
	default:
		t.Errorf("oom: %s %q", tr.Reason, o.Status.ErrorMessage)
	}
}
