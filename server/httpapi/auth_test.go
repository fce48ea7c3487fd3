package httpapi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/internal/client"
	"github.com/labrm/terraform-provider-lab/server/httpapi"
	"github.com/labrm/terraform-provider-lab/server/servertest"
)

const (
	rwToken    = "rw-0123456789abcdef0123456789abcdef"
	roToken    = "ro-fedcba9876543210fedcba9876543210"
	wrongToken = "rw-0123456789abcdef0123456789abcdeX" // differs in the last character only
)

// authEnv is an API over a real SQLite store with one read-write and one
// read-only token, logging at debug level into logs.
func authEnv(t *testing.T, metricsAuth bool) (*env, *servertest.LogBuffer) {
	t.Helper()
	tokens, err := httpapi.NewTokens([]httpapi.Token{{Secret: rwToken, Role: httpapi.ReadWrite}, {Secret: roToken, Role: httpapi.ReadOnly}})
	if err != nil {
		t.Fatal(err)
	}
	logs := &servertest.LogBuffer{}
	e := newEnv(t, servertest.OpenStore(t, servertest.SQLite), func(c *httpapi.Config) {
		c.Tokens = tokens
		c.MetricsAuth = metricsAuth
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.MetricsHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			w.Write([]byte("labd_up 1\n"))
		})
	})
	return e, logs
}

func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

// wantUnauthorized checks a 401 problem with the Bearer challenge.
func wantUnauthorized(t *testing.T, r *response, wantError string) {
	t.Helper()
	p := r.problem(t, http.StatusUnauthorized, api.EUNAUTHORIZED)
	if p.Detail == "" {
		t.Fatalf("401 without detail: %s", r.body)
	}
	ch := r.header.Get("WWW-Authenticate")
	if !strings.HasPrefix(ch, `Bearer realm="labd"`) || !strings.Contains(ch, wantError) {
		t.Fatalf("WWW-Authenticate %q, want Bearer realm=\"labd\" with %q", ch, wantError)
	}
}

// TestAuthTokens drives the real router over a real store with tokens
// configured: who may do what, which routes stay open, and that no token
// reaches the logs.
func TestAuthTokens(t *testing.T) {
	t.Parallel()
	e, logs := authEnv(t, false)
	const path = "/api/lab-instances/"

	// No token, a wrong one, malformed headers: 401, nothing created.
	wantUnauthorized(t, e.do("GET", path, ""), `realm="labd"`)
	wantUnauthorized(t, e.do("POST", path, flatBody("sneaky")), `realm="labd"`)
	wantUnauthorized(t, e.do("GET", path, "", bearer(wrongToken)...), `error="invalid_token"`)
	wantUnauthorized(t, e.do("DELETE", path+"x", "", bearer(wrongToken)...), `error="invalid_token"`)
	for _, h := range []string{"Basic " + rwToken, "Bearer", "Bearer ", rwToken, `Bearer "` + rwToken + `"`, "Bearer " + rwToken + " extra"} {
		wantUnauthorized(t, e.do("GET", path, "", "Authorization", h), `error="invalid_request"`)
	}
	// The scheme is case-insensitive (RFC 7235).
	e.do("GET", path, "", "Authorization", "bearer "+roToken).want(t, http.StatusOK)

	// The read-write token may do everything.
	created := e.do("POST", path, flatBody("lab-1"), bearer(rwToken)...).want(t, http.StatusCreated).lab(t)
	e.do("GET", path+"lab-1", "", bearer(rwToken)...).want(t, http.StatusOK)

	// The read-only token reads, and is refused every write with 403.
	if got := e.do("GET", path+"lab-1", "", bearer(roToken)...).want(t, http.StatusOK).lab(t); got.Metadata.UID != created.Metadata.UID {
		t.Fatalf("read-only GET returned %s", got.Metadata.UID)
	}
	e.do("GET", path, "", bearer(roToken)...).want(t, http.StatusOK)
	e.do("GET", path+"lab-1/events", "", bearer(roToken)...).want(t, http.StatusOK)
	for _, w := range []struct{ method, path, body string }{
		{"POST", path, flatBody("lab-2")},
		{"PUT", path + "lab-1", flatBody("lab-1", func(m map[string]any) { m["duration_minutes"] = 90 })},
		{"PATCH", path + "lab-1", `{"spec":{"duration_minutes":90}}`},
		{"DELETE", path + "lab-1", ""},
		{"POST", path + "lab-1/start", ""},
		{"POST", path + "lab-1/stop", ""},
	} {
		r := e.do(w.method, w.path, w.body, append(bearer(roToken), "If-Match", etagOf(created.Metadata.ResourceVersion))...)
		p := r.problem(t, http.StatusForbidden, api.EFORBIDDEN)
		if !strings.Contains(p.Detail, "read-write") || !strings.Contains(r.header.Get("WWW-Authenticate"), "insufficient_scope") {
			t.Fatalf("%s %s: problem %+v, challenge %q", w.method, w.path, p, r.header.Get("WWW-Authenticate"))
		}
	}
	// The refused writes changed nothing.
	after := e.get2(path+"lab-1", rwToken)
	if after.Metadata.ResourceVersion != created.Metadata.ResourceVersion || after.Spec.DurationMinutes != created.Spec.DurationMinutes {
		t.Fatalf("refused writes changed the lab: %+v", after.Metadata)
	}
	list := e.do("GET", path, "", bearer(rwToken)...).want(t, http.StatusOK).list(t)
	if len(list.Items) != 1 {
		t.Fatalf("%d labs after refused creates, want 1", len(list.Items))
	}

	// Probes and (without MetricsAuth) the monitoring endpoints are open.
	for _, p := range []string{"/api/status/health", "/api/status/ready", "/api/status/status", "/api/status/finalizers", "/api/status/bookmarks", "/api/status/metrics"} {
		e.do("GET", p, "").want(t, http.StatusOK)
	}
	e.do("HEAD", "/api/status/health", "").want(t, http.StatusOK)
	// A wrong token on an open route is ignored, not refused.
	e.do("GET", "/api/status/health", "", bearer(wrongToken)...).want(t, http.StatusOK)
	// Unknown routes stay 404, not 401.
	e.do("GET", "/api/nothing-here", "").problem(t, http.StatusNotFound, api.ENOTFOUND)

	// The logs saw all of it, and no token.
	out := logs.String()
	if !strings.Contains(out, `"status":401`) || !strings.Contains(out, `"status":403`) ||
		!strings.Contains(out, `"token_role":"ro"`) || !strings.Contains(out, `"token_role":"rw"`) {
		t.Fatalf("access log lacks the 401s and 403s:\n%s", out)
	}
	for _, tok := range []string{rwToken, roToken, wrongToken, "0123456789abcdef"} {
		if strings.Contains(out, tok) {
			t.Fatalf("a token appears in the logs:\n%s", out)
		}
	}
}

// get2 reads a lab with a token.
func (e *env) get2(path, token string) *api.LabInstanceRequest {
	e.t.Helper()
	return e.do("GET", path, "", bearer(token)...).want(e.t, http.StatusOK).lab(e.t)
}

// TestAuthMetrics checks that MetricsAuth guards the monitoring routes,
// with either role, and never health and ready.
func TestAuthMetrics(t *testing.T) {
	t.Parallel()
	e, _ := authEnv(t, true)
	for _, p := range []string{"/api/status/metrics", "/api/status/status", "/api/status/finalizers", "/api/status/bookmarks"} {
		wantUnauthorized(t, e.do("GET", p, ""), `realm="labd"`)
		wantUnauthorized(t, e.do("GET", p, "", bearer(wrongToken)...), "invalid_token")
		e.do("GET", p, "", bearer(roToken)...).want(t, http.StatusOK)
		e.do("GET", p, "", bearer(rwToken)...).want(t, http.StatusOK)
	}
	if r := e.do("GET", "/api/status/metrics", "", bearer(roToken)...); !strings.Contains(string(r.body), "labd_up 1") {
		t.Fatalf("metrics body %q", r.body)
	}
	for _, p := range []string{"/api/status/health", "/api/status/ready"} {
		e.do("GET", p, "").want(t, http.StatusOK)
	}
}

// TestAuthTypedClient uses the provider's client (internal/client), which
// sends the token it is given, against the guarded router: the read-write
// token writes, the read-only one reads and watches, no token is refused,
// and each refusal maps to the error code the provider branches on.
func TestAuthTypedClient(t *testing.T) {
	t.Parallel()
	e, logs := authEnv(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rw, err := client.New(e.url, client.WithToken(rwToken))
	if err != nil {
		t.Fatal(err)
	}
	rdr, err := client.New(e.url, client.WithToken(roToken))
	if err != nil {
		t.Fatal(err)
	}
	anon, err := client.New(e.url)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := client.New(e.url, client.WithToken(wrongToken))
	if err != nil {
		t.Fatal(err)
	}

	lab := &api.LabInstanceRequest{
		Metadata: api.ObjectMeta{Name: "typed-auth", Namespace: "course-1"},
		Spec:     api.Spec{LabTemplate: "python:3.9-alpine", StudentEmail: "s@u.edu", DurationMinutes: 30},
	}
	if _, err := anon.Create(ctx, lab); api.ErrorCode(err) != api.EUNAUTHORIZED {
		t.Fatalf("create without token: %v, want %s", err, api.EUNAUTHORIZED)
	}
	if _, err := bad.List(ctx, client.ListOptions{}); api.ErrorCode(err) != api.EUNAUTHORIZED {
		t.Fatalf("list with a wrong token: %v, want %s", err, api.EUNAUTHORIZED)
	}
	if _, err := rdr.Create(ctx, lab); api.ErrorCode(err) != api.EFORBIDDEN {
		t.Fatalf("create with a read-only token: %v, want %s", err, api.EFORBIDDEN)
	}
	if _, err := anon.Health(ctx); err != nil {
		t.Fatalf("health without token: %v", err)
	}

	// The read-only token watches; the read-write one's create shows up.
	list, err := rdr.List(ctx, client.ListOptions{Namespace: "course-1"})
	if err != nil || len(list.Items) != 0 {
		t.Fatalf("read-only list: %v %+v", err, list)
	}
	w, err := rdr.Watch(ctx, client.WatchOptions{Namespace: "course-1", ResourceVersion: list.Metadata.ResourceVersion})
	if err != nil {
		t.Fatalf("read-only watch: %v", err)
	}
	defer w.Close()
	created, err := rw.Create(ctx, lab)
	if err != nil {
		t.Fatalf("read-write create: %v", err)
	}
	ev, err := w.Next()
	for err == nil && ev.Type == api.WatchBookmark {
		ev, err = w.Next()
	}
	if err != nil || ev.Type != api.WatchAdded || ev.Object.Metadata.UID != created.Metadata.UID {
		t.Fatalf("watch event: %v %+v", err, ev)
	}
	if _, _, err := rdr.Delete(ctx, created.Key()); api.ErrorCode(err) != api.EFORBIDDEN {
		t.Fatalf("delete with a read-only token: %v", err)
	}
	if _, err := rw.Get(ctx, created.Key()); err != nil {
		t.Fatalf("lab gone after a refused delete: %v", err)
	}
	if out := logs.String(); strings.Contains(out, rwToken) || strings.Contains(out, roToken) || strings.Contains(out, wrongToken) {
		t.Fatalf("a token appears in the logs:\n%s", out)
	}
}

// TestTokens checks the token set itself: validation, roles, replacement.
func TestTokens(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 40)
	for _, tc := range []struct {
		tokens []httpapi.Token
		want   string
	}{
		{nil, "no tokens"},
		{[]httpapi.Token{{Secret: "short-token", Role: httpapi.ReadWrite}}, "shorter than 16"},
		{[]httpapi.Token{{Secret: long, Role: httpapi.ReadWrite}, {Secret: long, Role: httpapi.ReadOnly}}, "token 2: same as token 1"},
		{[]httpapi.Token{{Secret: long}}, "role"},
		{[]httpapi.Token{{Secret: "has space in the middle", Role: httpapi.ReadWrite}}, "characters"},
		{[]httpapi.Token{{Secret: "ro:" + long, Role: httpapi.ReadWrite}}, "characters"},
	} {
		_, err := httpapi.NewTokens(tc.tokens)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewTokens(%d tokens): %v, want %q", len(tc.tokens), err, tc.want)
		}
		for _, tok := range tc.tokens {
			if err != nil && strings.Contains(err.Error(), tok.Secret) {
				t.Errorf("error %q quotes the token", err)
			}
		}
	}

	ts, err := httpapi.NewTokens([]httpapi.Token{{Secret: rwToken, Role: httpapi.ReadWrite}, {Secret: roToken, Role: httpapi.ReadOnly}, {Secret: "YWJjZGVmZ2hpamtsbW5vcA==", Role: httpapi.ReadOnly}})
	if err != nil {
		t.Fatal(err)
	}
	if rw, r := ts.Count(); rw != 1 || r != 2 {
		t.Fatalf("Count = %d, %d", rw, r)
	}
	for _, tc := range []struct {
		secret string
		role   httpapi.Role
		ok     bool
	}{
		{rwToken, httpapi.ReadWrite, true},
		{roToken, httpapi.ReadOnly, true},
		{"YWJjZGVmZ2hpamtsbW5vcA==", httpapi.ReadOnly, true},
		{wrongToken, 0, false},
		{rwToken[:len(rwToken)-1], 0, false},
		{rwToken + "0", 0, false},
		{"", 0, false},
	} {
		if role, ok := ts.Authenticate(tc.secret); role != tc.role || ok != tc.ok {
			t.Errorf("Authenticate(%q) = %v, %v; want %v, %v", tc.secret, role, ok, tc.role, tc.ok)
		}
	}
	// A bad replacement keeps the old set; a good one replaces it whole.
	if err := ts.Set(nil); err == nil {
		t.Fatal("Set(nil) accepted")
	}
	if _, ok := ts.Authenticate(rwToken); !ok {
		t.Fatal("a failed Set dropped the old tokens")
	}
	if err := ts.Set([]httpapi.Token{{Secret: long, Role: httpapi.ReadWrite}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := ts.Authenticate(rwToken); ok {
		t.Fatal("replaced token still accepted")
	}
	if role, ok := ts.Authenticate(long); !ok || role != httpapi.ReadWrite {
		t.Fatalf("new token: %v %v", role, ok)
	}
	if httpapi.ReadOnly.String() != "ro" || httpapi.ReadWrite.String() != "rw" {
		t.Fatalf("role names %s %s", httpapi.ReadOnly, httpapi.ReadWrite)
	}
	// The set holds digests only: printing it shows no token.
	b, _ := json.Marshal(ts)
	if strings.Contains(string(b), long) {
		t.Fatalf("marshalled set shows a token: %s", b)
	}
}
