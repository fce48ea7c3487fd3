package gateway_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/gateway"
	"github.com/labrm/terraform-provider-lab/server/servertest"
)

// TestIdleCulling: use through the gateway is written to
// status.last_activity in batches, never once per request; the controller
// ends a lab nobody used for idle_timeout_minutes (COMPLETED, reason
// Idle). The clock is injected into both.
func TestIdleCulling(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	a := e.running("idle", func(l *api.LabInstanceRequest) { l.Spec.IdleTimeoutMinutes = 2 })
	tok := e.token(a.Key())
	ctx := context.Background()
	before := e.waitPhase(a.Key(), api.PhaseRunning).Metadata.ResourceVersion

	// Fifty requests, 60 s of the clock after the start: no write yet.
	e.clock.Advance(60 * time.Second)
	used := e.clock.Now()
	for range 50 {
		if resp, _ := do(t, "GET", e.url(a.Key(), "/"), "Cookie", cookie(tok)); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET: %d", resp.StatusCode)
		}
	}
	if l, _ := e.db.GetLab(ctx, a.Key()); l.Metadata.ResourceVersion != before || l.Status.LastActivity != nil {
		t.Fatalf("requests wrote the lab: version %d -> %d, last_activity %v", before, l.Metadata.ResourceVersion, l.Status.LastActivity)
	}
	// One flush, one write.
	if err := e.gw.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	l, _ := e.db.GetLab(ctx, a.Key())
	if l.Status.LastActivity == nil || l.Status.LastActivity.Unix() < used.Unix() || l.Status.LastActivity.Sub(used) > 5*time.Second {
		t.Fatalf("last_activity %v, want about %v", l.Status.LastActivity, used)
	}
	writes := 0
	for _, ev := range servertest.AllEvents(t, e.db) {
		if ev.Key == a.Key() && ev.Position > before && ev.Object != nil && ev.Object.Status.LastActivity != nil {
			writes++
		}
	}
	if writes != 1 {
		t.Fatalf("%d writes of last_activity for 50 requests and one flush, want 1", writes)
	}

	// 100 s after that use (160 s after the start, past 2 minutes): still
	// running, since idleness counts from the last use.
	e.clock.Advance(100 * time.Second)
	time.Sleep(time.Second) // several controller probes
	if l, _ := e.db.GetLab(ctx, a.Key()); l.Status.Phase != api.PhaseRunning {
		t.Fatalf("ended %s, %+v, used 100 s ago with a 2 minute idle timeout", l.Status.Phase, l.Status.Transitions)
	}
	// Then 2 minutes and more since the last use.
	e.clock.Advance(21 * time.Second)
	done := e.waitPhase(a.Key(), api.PhaseCompleted)
	tr := done.Status.Transitions[len(done.Status.Transitions)-1]
	if tr.From != api.PhaseRunning || tr.Reason != "Idle" {
		t.Fatalf("ended by %+v", tr)
	}
	// The student then sees that it has ended.
	e.gw.Forget(a.Key())
	if resp, body := do(t, "GET", e.url(a.Key(), "/"), "Cookie", cookie(tok)); resp.StatusCode != http.StatusGone ||
		!strings.Contains(body, "This lab has ended") || !strings.Contains(body, "nobody used the lab for 2 minutes") {
		t.Fatalf("after the end: %d %s", resp.StatusCode, body)
	}
}

// TestHostRouting: with a domain, a lab is also served by host name at
// its root, with a cookie of that host; access URLs use the host name.
func TestHostRouting(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *gateway.Config) { c.Domain = "labs.test"; c.Scheme = "https"; c.Host = "labs.test:8443" })
	a := e.running("hosted", func(l *api.LabInstanceRequest) { l.Metadata.Namespace = "cs-101" })
	if a.Status.AccessURL != "https://hosted--cs-101.labs.test:8443/" {
		t.Fatalf("access_url %q", a.Status.AccessURL)
	}
	tok := e.token(a.Key())
	host := "hosted--cs-101.labs.test:8443"
	resp, _ := do(t, "GET", e.base+"/headers?token="+tok, "Host", host)
	c := resp.Cookies()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/headers" || len(c) != 1 ||
		c[0].Path != "/" || c[0].Domain != "" || !c[0].Secure || !c[0].HttpOnly {
		t.Fatalf("access link by host: %d %q %v", resp.StatusCode, resp.Header.Get("Location"), resp.Header.Values("Set-Cookie"))
	}
	seen := hostSeen(t, e.base+"/headers", host, cookie(tok))
	if seen.Path != "/headers" || seen.Host != host || seen.Headers["X-Forwarded-Prefix"] != nil || first1(seen.Headers["X-Forwarded-Proto"]) != "https" {
		t.Fatalf("the app saw %+v", seen)
	}
	// Another host name under the domain, or a lab's host with a wrong
	// token: the same 401.
	if resp, _ := do(t, "GET", e.base+"/", "Host", "nobody--cs-101.labs.test", "Cookie", cookie(tok)); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unknown lab host: %d", resp.StatusCode)
	}
	// The path form still works on the API's host.
	if resp, _ := do(t, "GET", e.url(a.Key(), "/"), "Cookie", cookie(tok)); resp.StatusCode != http.StatusOK {
		t.Fatalf("by path: %d", resp.StatusCode)
	}
	// Anything else on the listener is the API's (here: 404).
	if resp, body := do(t, "GET", e.base+"/api/lab-instances/"); resp.StatusCode != http.StatusNotFound || strings.Contains(body, "Access link") {
		t.Fatalf("API route: %d %s", resp.StatusCode, body)
	}
}

func hostSeen(t *testing.T, url, host, cookieHeader string) seen {
	t.Helper()
	return headersSeen(t, "GET", url, "Host", host, "Cookie", cookieHeader)
}
