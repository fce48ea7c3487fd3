package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/httpapi"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// env is one API server over one store, served on a real listener so that
// streaming responses behave as in production.
type env struct {
	t   *testing.T
	db  *store.DB
	api *httpapi.Server
	url string
}

func newEnv(t *testing.T, st httpapi.Store, configure ...func(*httpapi.Config)) *env {
	t.Helper()
	cfg := httpapi.Config{Store: st, Version: "test"}
	if db, ok := st.(*store.DB); ok {
		cfg.Notify = db
	}
	for _, f := range configure {
		f(&cfg)
	}
	s := httpapi.New(cfg)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		s.Close()
		srv.Close()
	})
	db, _ := st.(*store.DB)
	return &env{t: t, db: db, api: s, url: srv.URL}
}

// eachEnv runs fn against an API over each store kind.
func eachEnv(t *testing.T, fn func(t *testing.T, e *env)) {
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		fn(t, newEnv(t, db))
	})
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; headers come in name, value pairs.
func (e *env) do(method, path, body string, headers ...string) *response {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.url+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}
}

// want fails the test unless the response has status.
func (r *response) want(t *testing.T, status int) *response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body: %s", r.status, status, r.body)
	}
	return r
}

func (r *response) lab(t *testing.T) *api.LabInstanceRequest {
	t.Helper()
	var l api.LabInstanceRequest
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatalf("decode lab: %v; body: %s", err, r.body)
	}
	return &l
}

func (r *response) list(t *testing.T) *api.LabInstanceRequestList {
	t.Helper()
	var l api.LabInstanceRequestList
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatalf("decode list: %v; body: %s", err, r.body)
	}
	return &l
}

// problem checks that the response is an RFC 7807 problem with status and
// code and returns it.
func (r *response) problem(t *testing.T, status int, code string) api.Problem {
	t.Helper()
	r.want(t, status)
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json; body: %s", ct, r.body)
	}
	var p api.Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("decode problem: %v; body: %s", err, r.body)
	}
	if p.Status != status || p.Code != code || p.Title == "" {
		t.Fatalf("problem %+v, want status %d code %q", p, status, code)
	}
	return p
}

// hasField reports whether the problem names field.
func hasField(p api.Problem, field string) bool {
	return slices.ContainsFunc(p.Errors, func(f api.FieldError) bool { return f.Field == field })
}

func wantField(t *testing.T, p api.Problem, field string) {
	t.Helper()
	if !hasField(p, field) {
		t.Fatalf("problem does not name field %q: %+v", field, p)
	}
}

// flatBody is the design document's create body for name, with changes.
func flatBody(name string, change ...func(m map[string]any)) string {
	m := map[string]any{
		"name":             name,
		"namespace":        "default",
		"lab_template":     "python:3.9-alpine",
		"student_email":    "student@university.edu",
		"duration_minutes": 60,
		"environment":      map[string]any{"LAB_TYPE": "python-basics"},
	}
	for _, f := range change {
		f(m)
	}
	return mustJSON(m)
}

func mustJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return b.String()
}

// create makes a lab from the flat body and returns it.
func (e *env) create(name string, change ...func(m map[string]any)) *api.LabInstanceRequest {
	e.t.Helper()
	return e.do("POST", "/api/lab-instances/", flatBody(name, change...)).want(e.t, http.StatusCreated).lab(e.t)
}

func (e *env) get(name string) *api.LabInstanceRequest {
	e.t.Helper()
	return e.do("GET", "/api/lab-instances/"+name, "").want(e.t, http.StatusOK).lab(e.t)
}

func etagOf(rv int64) string { return `"` + itoa(rv) + `"` }

func itoa(n int64) string { return strings.TrimSpace(mustJSON(n)) }

// doChunked sends body without a Content-Length.
func (e *env) doChunked(method, path, body string) *response {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.url+path, struct{ io.Reader }{strings.NewReader(body)})
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return &response{status: resp.StatusCode, header: resp.Header, body: b}
}

func decodeJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %T: %v; body: %s", v, err, b)
	}
}
