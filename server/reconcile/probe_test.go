package reconcile

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// TestHTTPProbe: a TCP connect without a path; with one, any answer below
// 500 (redirects not followed); the error says why in a few words.
func TestHTTPProbe(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(http.StatusOK)
		case "/moved":
			http.Redirect(w, r, "/broken", http.StatusFound)
		case "/broken":
			w.WriteHeader(http.StatusInternalServerError)
		case "/slow":
			time.Sleep(2 * time.Second)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	endpoint := strings.TrimPrefix(srv.URL, "http://")
	// A port nothing listens on: one just closed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	for _, tc := range []struct {
		endpoint, path, want string
	}{
		{endpoint, "", ""},
		{endpoint, "/ok", ""},
		{endpoint, "/missing?x=1", ""},
		{endpoint, "/moved", ""},
		{endpoint, "/broken", "GET /broken answered 500 Internal Server Error"},
		{endpoint, "/slow", "no answer in time"},
		{closed, "", "connection refused"},
		{closed, "/ok", "connection refused"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := HTTPProbe(ctx, tc.endpoint, tc.path)
		cancel()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("probe %s%s: %q, want %q", tc.endpoint, tc.path, got, tc.want)
		}
	}
}

// TestSpecHashStable: a lab that does not use the workload fields keeps
// the hash it had before they existed; each one, once set, changes it.
func TestSpecHashStable(t *testing.T) {
	t.Parallel()
	c := New(Config{})
	base := c.workloadSpec(labWith(nil))
	// The hash of this spec by labd before command, args, port and
	// readiness_path existed (computed at the commit before them).
	if got := specHash(base); got != "405578473b8a0abf" {
		t.Fatalf("hash of a plain lab = %s: it changed, and upgrading labd would recreate running labs", got)
	}
	seen := map[string]string{specHash(base): "plain"}
	for name, mutate := range map[string]func(*api.Spec){
		"command":   func(s *api.Spec) { s.Command = []string{"httpd"} },
		"args":      func(s *api.Spec) { s.Args = []string{"-f"} },
		"port":      func(s *api.Spec) { s.Port = 9000 },
		"readiness": func(s *api.Spec) { s.ReadinessPath = "/healthz" },
	} {
		h := specHash(c.workloadSpec(labWith(mutate)))
		if prev, dup := seen[h]; dup {
			t.Errorf("%s: same hash as %s", name, prev)
		}
		seen[h] = name
	}
}

func labWith(mutate func(*api.Spec)) *api.LabInstanceRequest {
	l := &api.LabInstanceRequest{
		Metadata: api.ObjectMeta{Name: "l", Namespace: "default", UID: "7ca48970-0000-4000-8000-000000000001"},
		Spec: api.Spec{LabTemplate: "labrm/busybox:test", StudentEmail: "s@u.edu", DurationMinutes: 60,
			ResourceLimits: &api.ResourceLimits{CPU: "500m", Memory: "64Mi"}, Environment: api.StringMap{"A": "1"}},
	}
	if mutate != nil {
		mutate(&l.Spec)
	}
	return l
}
