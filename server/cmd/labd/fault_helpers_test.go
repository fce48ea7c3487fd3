package main

// Helpers of the fault suite (fault_*_test.go): TestFault* run labd
// processes (or a server in process) against real PostgreSQL and Docker
// and break things under them. `make fault` runs them alone.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/docker"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// reply is one raw HTTP exchange, retries off: the fault tests count
// statuses as the server gave them.
type reply struct {
	status int
	header http.Header
	body   []byte
	err    error // transport error (connection refused, reset)
}

func rawDo(method, url, contentType, body string, headers ...string) reply {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return reply{err: err}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b, err: err}
}

func (r reply) problem(t *testing.T) api.Problem {
	t.Helper()
	var p api.Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("not a problem (%d): %s", r.status, r.body)
	}
	return p
}

// labBody is a flat create body for a lab of the test image with env.
func labBody(name, image string, env map[string]string) string {
	m := map[string]any{"name": name, "lab_template": image, "student_email": "s@u.edu", "duration_minutes": 30,
		"resource_limits": map[string]string{"cpu": "50m", "memory": "16Mi"}}
	if env != nil {
		m["environment"] = env
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// listDocker lists the labs' containers, of any installation, on the
// engine at host ("" = the shared one).
func listDocker(t *testing.T, host string) []workload.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := docker.New(docker.Config{Host: host})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	all, err := e.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// removeDocker removes one container from the engine at host.
func removeDocker(t *testing.T, host, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := docker.New(docker.Config{Host: host})
	if err != nil {
		return
	}
	defer e.Close()
	if err := e.Remove(ctx, name); err != nil {
		t.Logf("remove container %s: %v", name, err)
	}
}

// installationContainers lists the containers of the installation whose
// database is dbURL, on the engine at host ("" = the shared one).
func installationContainers(t *testing.T, dbURL, host string) []workload.Status {
	t.Helper()
	id := installationID(t, dbURL)
	var out []workload.Status
	for _, c := range listDocker(t, host) {
		if workload.Ours(c.Labels, id) {
			out = append(out, c)
		}
	}
	return out
}

// removeInstallationContainers removes, when the test ends, whatever
// containers the installation of dbURL left on the engine at host.
func removeInstallationContainers(t *testing.T, dbURL, host string) {
	t.Cleanup(func() {
		for _, c := range installationContainers(t, dbURL, host) {
			removeDocker(t, host, c.Name)
		}
	})
}

// ceSink is a CloudEvents sink that records the id of every event it
// receives, however often.
type ceSink struct {
	srv *httptest.Server
	mu  sync.Mutex
	ids map[string]int
}

func newCESink(t *testing.T) *ceSink {
	s := &ceSink{ids: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			ID string `json:"id"`
		}
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || ev.ID == "" {
			http.Error(w, "no id", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.ids[ev.ID]++
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *ceSink) received() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.ids))
	for k, v := range s.ids {
		out[k] = v
	}
	return out
}
