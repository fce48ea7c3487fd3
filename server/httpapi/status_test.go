package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

func TestHealthAndReady(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
		e := newEnv(t, db, func(c *httpapi.Config) { c.Now = func() time.Time { return now }; c.Version = "1.2.3" })
		var h api.Health
		decodeJSON(t, e.do("GET", "/api/status/health", "").want(t, http.StatusOK).body, &h)
		if h.Status != "healthy" || h.Service != api.ServiceName || h.Version != "1.2.3" || !h.Timestamp.Equal(now) {
			t.Fatalf("health %+v", h)
		}
		if r := e.do("HEAD", "/api/status/health", "").want(t, http.StatusOK); len(r.body) != 0 {
			t.Fatalf("HEAD with body %q", r.body)
		}
		var r api.Ready
		decodeJSON(t, e.do("GET", "/api/status/ready", "").want(t, http.StatusOK).body, &r)
		if r.Status != "ready" || r.Checks["database"] != "ok" {
			t.Fatalf("ready %+v", r)
		}
	})
}

// brokenStore fails the way a store whose database is gone does, with an
// error text that must not reach clients. Methods it does not override
// panic (nil embedded interface), which the recovery middleware turns into
// a 500.
type brokenStore struct {
	httpapi.Store
}

var errSecret = errors.New(`pq: password authentication failed for user "labd" at 10.0.0.7:5432`)

func (brokenStore) Ping(context.Context) error { return errSecret }
func (brokenStore) GetLab(context.Context, api.Key) (*api.LabInstanceRequest, error) {
	return nil, fmt.Errorf("get lab: %w", errSecret)
}
func (brokenStore) CreateLab(context.Context, *api.LabInstanceRequest) (*api.LabInstanceRequest, error) {
	panic("boom: " + errSecret.Error())
}

func TestErrorsDoNotLeak(t *testing.T) {
	t.Parallel()
	var logs servertest.LogBuffer
	e := newEnv(t, brokenStore{}, func(c *httpapi.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
		c.Ready = map[string]func(context.Context) error{"leader": func(context.Context) error { return nil }}
	})

	// Readiness names the failing check without its error.
	r := e.do("GET", "/api/status/ready", "").want(t, http.StatusServiceUnavailable)
	var ready api.Ready
	decodeJSON(t, r.body, &ready)
	if ready.Status != "not_ready" || ready.Checks["database"] != "unavailable" || ready.Checks["leader"] != "ok" {
		t.Fatalf("ready %+v", ready)
	}
	// Health stays up: the process is alive.
	e.do("GET", "/api/status/health", "").want(t, http.StatusOK)

	// A store error is a 500 "internal error"; the log has the real one
	// under the request id the client got.
	r = e.do("GET", "/api/lab-instances/x", "", "X-Request-Id", "req-123")
	p := r.problem(t, http.StatusInternalServerError, api.EINTERNAL)
	if p.Detail != "internal error" || r.header.Get("X-Request-Id") != "req-123" {
		t.Fatalf("problem %+v, request id %q", p, r.header.Get("X-Request-Id"))
	}
	// A panic is a 500 problem too.
	r = e.do("POST", "/api/lab-instances/", flatBody("panics"))
	p = r.problem(t, http.StatusInternalServerError, api.EINTERNAL)
	id := r.header.Get("X-Request-Id")
	if id == "" || len(id) > 128 {
		t.Fatalf("generated request id %q", id)
	}
	for _, body := range [][]byte{r.body} {
		if bytes.Contains(body, []byte("password")) || bytes.Contains(body, []byte("boom")) {
			t.Fatalf("internals leaked: %s", body)
		}
	}
	log := logs.String()
	for _, want := range []string{`"request_id":"req-123"`, "password authentication failed", `"request_id":"` + id + `"`, "boom", `"stack"`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s:\n%s", want, log)
		}
	}
	// An unacceptable request id is replaced.
	if got := e.do("GET", "/api/status/health", "", "X-Request-Id", "bad id\twith tabs").header.Get("X-Request-Id"); got == "" || strings.ContainsAny(got, " \t") {
		t.Fatalf("request id %q", got)
	}
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, brokenStore{})
	p := e.do("GET", "/api/nothing-here", "").problem(t, http.StatusNotFound, api.ENOTFOUND)
	if p.Instance != "/api/nothing-here" {
		t.Fatalf("instance %q", p.Instance)
	}
	// No redirect from /name/ to /name.
	e.do("GET", "/api/lab-instances/x/", "").problem(t, http.StatusNotFound, api.ENOTFOUND)
	r := e.do("POST", "/api/lab-instances/some-lab", "{}")
	r.problem(t, http.StatusMethodNotAllowed, "method_not_allowed")
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "PATCH") {
		t.Fatalf("Allow %q", allow)
	}
	// The collection answers DELETE (a collection delete) but not PUT.
	e.do("PUT", "/api/lab-instances/", "").problem(t, http.StatusMethodNotAllowed, "method_not_allowed")
	// Bad names are 400 naming the parameter, before the store is asked.
	wantField(t, e.do("GET", "/api/lab-instances/Bad_Name", "").problem(t, http.StatusBadRequest, api.EBADREQUEST), "name")
	wantField(t, e.do("GET", "/api/lab-instances/ok?namespace=Bad_NS", "").problem(t, http.StatusBadRequest, api.EBADREQUEST), "namespace")
}
