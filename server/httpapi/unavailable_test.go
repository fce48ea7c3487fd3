package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/httpapi"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// TestDatabaseOutage cuts the API's connection to a real PostgreSQL: reads
// and writes answer 503 unavailable with Retry-After (never 500), the
// readiness probe fails naming the database, the log says why (not
// "internal error"); once the database is back everything answers again
// and nothing refused was stored.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	proxy, dsn := servertest.ProxyPostgres(t, servertest.PostgresURL(t))
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{URL: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var logs servertest.LogBuffer
	e := newEnv(t, db, func(c *httpapi.Config) { c.Logger = newTextLogger(&logs); c.RetryAfter = 3 * time.Second })
	e.create("before")
	e.do("GET", "/api/status/ready", "").want(t, http.StatusOK)

	proxy.Cut()
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/api/lab-instances/before", ""},
		{"GET", "/api/lab-instances/", ""},
		{"POST", "/api/lab-instances/", flatBody("during")},
		{"DELETE", "/api/lab-instances/before", ""},
		{"GET", "/api/lab-instances/?watch=true&timeout_seconds=1", ""},
	} {
		resp := e.do(r.method, r.path, r.body)
		p := resp.problem(t, http.StatusServiceUnavailable, api.EUNAVAILABLE)
		if got := resp.header.Get("Retry-After"); got != "3" {
			t.Errorf("%s %s: Retry-After %q, want 3", r.method, r.path, got)
		}
		if !strings.HasPrefix(p.Detail, "the database ") {
			t.Errorf("%s %s: detail %q", r.method, r.path, p.Detail)
		}
	}
	ready := e.do("GET", "/api/status/ready", "").want(t, http.StatusServiceUnavailable)
	var rd api.Ready
	decodeJSON(t, ready.body, &rd)
	if rd.Checks["database"] == "ok" || ready.header.Get("Retry-After") == "" {
		t.Fatalf("readiness during the outage: %+v, Retry-After %q", rd, ready.header.Get("Retry-After"))
	}
	if strings.Contains(logs.String(), "internal error") || !strings.Contains(logs.String(), "msg=unavailable") {
		t.Fatalf("log during the outage:\n%s", logs.String())
	}

	proxy.Restore()
	servertest.Eventually(t, "readiness after the outage", 20*time.Second, func() bool {
		return e.do("GET", "/api/status/ready", "").status == http.StatusOK
	})
	e.get("before")
	e.do("GET", "/api/lab-instances/during", "").problem(t, http.StatusNotFound, api.ENOTFOUND)
}

func newTextLogger(w *servertest.LogBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
