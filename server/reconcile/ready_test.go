package reconcile_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/reconcile"
	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// TestLateAppStaysProvisioning: an app that answers 3 s after its
// container starts keeps the lab PROVISIONING, with a condition saying
// what it waits for, and RUNNING only once it answers.
func TestLateAppStaysProvisioning(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	h.create("late", func(l *api.LabInstanceRequest) {
		l.Spec.Command = []string{"/bin/sh", "-c", "sleep 3; exec httpd -f -p 8080 -h /www"}
	})
	waiting := h.waitFor("late", "a condition saying what it waits for", func(l *api.LabInstanceRequest) bool {
		c := l.Condition(api.ConditionReady)
		return c != nil && c.Reason == "WaitingForApp"
	})
	if waiting.Status.Phase != api.PhaseProvisioning {
		t.Fatalf("waiting in phase %s", waiting.Status.Phase)
	}
	if msg := waiting.Condition(api.ConditionReady).Message; !strings.HasPrefix(msg, "waiting for the app to answer on port 8080 (a TCP connection)") {
		t.Fatalf("condition message %q", msg)
	}
	l := h.waitPhase("late", api.PhaseRunning)
	ctr, err := h.rt.Inspect(context.Background(), workload.Name(l.Metadata.UID))
	if err != nil {
		t.Fatal(err)
	}
	tr := l.Status.Transitions[len(l.Status.Transitions)-1]
	if tr.Reason != "AppReady" || tr.At.Sub(ctr.StartedAt) < 2500*time.Millisecond {
		t.Fatalf("RUNNING (%s) %s after the container started, want >= 3 s, when the app answers", tr.Reason, tr.At.Sub(ctr.StartedAt))
	}
	if c := l.Condition(api.ConditionReady); c.Status != api.ConditionTrue || !strings.Contains(c.Message, "the app answers on port 8080") {
		t.Fatalf("Ready condition once running: %+v", c)
	}
	if l.Status.Endpoint != ctr.Endpoint || body(t, "http://"+l.Status.Endpoint+"/") == "" {
		t.Fatalf("endpoint %q, the engine's %q", l.Status.Endpoint, ctr.Endpoint)
	}
}

func body(t *testing.T, url string) string { return httpGet(t, url) }

// TestAppNeverAnswers: a lab whose app never answers FAILS once the
// provisioning timeout passes, saying so, and its container is stopped.
func TestAppNeverAnswers(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *reconcile.Config) { c.ProvisionTimeout = 4 * time.Second })
	h.create("silent", func(l *api.LabInstanceRequest) {
		l.Spec.Command = []string{"sleep", "3600"}
		l.Spec.Port = 8080
		l.Spec.ReadinessPath = "/healthz"
	})
	l := h.waitPhase("silent", api.PhaseFailed)
	want := "the app never answered on port 8080 (HTTP GET /healthz below 500) within 4s: connection refused"
	if l.Status.ErrorMessage != want {
		t.Fatalf("error_message %q, want %q", l.Status.ErrorMessage, want)
	}
	if got := phases(l); got != "PENDING>PROVISIONING PROVISIONING>FAILED" {
		t.Fatalf("transitions %s", got)
	}
	ctr, err := h.rt.Inspect(context.Background(), workload.Name(l.Metadata.UID))
	if err == nil && ctr.State == workload.Running {
		t.Fatalf("container still running after FAILED: %+v", ctr)
	}
}

// TestReadinessPathBelow500: command, args and port run the image as an
// app on another port, and a readiness path answered 404 (below 500)
// counts as ready.
func TestReadinessPathBelow500(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	h.create("notfound-is-ready", func(l *api.LabInstanceRequest) {
		l.Spec.Command = []string{"httpd"}
		l.Spec.Args = []string{"-f", "-p", "9000", "-h", "/www"}
		l.Spec.Port = 9000
		l.Spec.ReadinessPath = "/no-such-page?x=1"
	})
	l := h.waitPhase("notfound-is-ready", api.PhaseRunning)
	if !strings.HasSuffix(l.Status.Endpoint, ":9000") || l.Status.AccessURL != testAccessURL(l.Key()) {
		t.Fatalf("endpoint %q, access_url %q", l.Status.Endpoint, l.Status.AccessURL)
	}
}

// TestIdleLabEnds: with idle_timeout_minutes, a lab nobody used for that
// long (by status.last_activity, which gateways write, else since it
// started) is ended: COMPLETED, reason Idle. The clock is injected.
func TestIdleLabEnds(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	h.create("idle", func(l *api.LabInstanceRequest) { l.Spec.IdleTimeoutMinutes = 2 })
	l := h.waitPhase("idle", api.PhaseRunning)
	// Used 90 s (of the clock) after it started: that is when idleness
	// counts from.
	h.clock.Advance(90 * time.Second)
	if n, err := h.db.RecordActivity(context.Background(), []store.Activity{{Key: l.Key(), UID: l.Metadata.UID, At: h.clock.Now()}}); err != nil || n != 1 {
		t.Fatalf("record activity: %d, %v", n, err)
	}
	h.clock.Advance(90 * time.Second) // 3 min after start, 90 s after use
	time.Sleep(time.Second)           // a few probe intervals
	if l, _ := h.db.GetLab(context.Background(), l.Key()); l.Status.Phase != api.PhaseRunning {
		t.Fatalf("ended %s (%v) although used 90 s ago with a 2 min idle timeout", l.Status.Phase, l.Status.Transitions)
	}
	h.clock.Advance(31 * time.Second)
	done := h.waitPhase("idle", api.PhaseCompleted)
	tr := done.Status.Transitions[len(done.Status.Transitions)-1]
	if tr.From != api.PhaseRunning || tr.Reason != "Idle" || done.Status.ErrorMessage != "" {
		t.Fatalf("ended by %+v, error %q", tr, done.Status.ErrorMessage)
	}
	if c := done.Condition(api.ConditionReady); c == nil || c.Message != "nobody used the lab for 2 minutes" {
		t.Fatalf("Ready condition %+v", c)
	}
	// The stop was recorded as a request before the container stopped, and
	// the request is gone once done.
	if len(done.Metadata.Annotations) != 0 {
		t.Fatalf("annotations left: %v", done.Metadata.Annotations)
	}
}

// TestRunningLabGetsEndpoint: a lab that ran before labd recorded
// endpoints (its access_url a published port) gets its endpoint and the
// gateway's access URL on its next reconcile, without a restart.
func TestRunningLabGetsEndpoint(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	l := h.waitPhase(h.create("upgraded", nil).Metadata.Name, api.PhaseRunning)
	endpoint := l.Status.Endpoint
	if _, err := h.db.UpdateLab(context.Background(), l.Key(), store.WriteOptions{}, func(x *api.LabInstanceRequest) error {
		x.Status.Endpoint, x.Status.AccessURL = "", "http://localhost:49153"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got := h.waitFor("upgraded", "its endpoint again", func(x *api.LabInstanceRequest) bool { return x.Status.Endpoint != "" })
	if got.Status.Endpoint != endpoint || got.Status.AccessURL != testAccessURL(l.Key()) || got.Status.ContainerID != l.Status.ContainerID {
		t.Fatalf("endpoint %q (was %q), access_url %q, container %s (was %s)", got.Status.Endpoint, endpoint, got.Status.AccessURL,
			got.Status.ContainerID, l.Status.ContainerID)
	}
}
