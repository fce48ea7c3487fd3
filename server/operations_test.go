package server_test

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

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/internal/client"
	"github.com/labrm/terraform-provider-lab/server"
	"github.com/labrm/terraform-provider-lab/server/servertest"
)

// TestOperationsSurface runs labd in-process with the controller on the
// embedded store and the real Docker engine, walks a lab through its life,
// and reads the status, finalizer and metrics endpoints along the way.
func TestOperationsSurface(t *testing.T) {
	t.Parallel()
	image := servertest.Docker(t)
	var mu sync.Mutex
	var received []map[string]any
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ce map[string]any
		if err := json.NewDecoder(r.Body).Decode(&ce); err != nil || r.Header.Get("Content-Type") != "application/cloudevents+json" {
			http.Error(w, "not a structured CloudEvent", http.StatusBadRequest)
			return
		}
		mu.Lock()
		received = append(received, ce)
		mu.Unlock()
	}))
	defer sink.Close()
	const version = "v0.0.1-ops"
	cfg := server.Config{Listen: "127.0.0.1:0", DatabaseURL: servertest.SQLiteURL(t), CloudEventsSinks: []string{sink.URL + "/hook"},
		Controller: true, InstanceID: "ops-replica", CapacityCPU: 1000, CapacityMemory: 1 << 30, ProbeInterval: 200 * time.Millisecond,
		Version: version}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("labd stopped with %v", err)
		}
	}()
	base := "http://" + s.Addr().String()
	cl, err := client.New(base)
	if err != nil {
		t.Fatal(err)
	}
	// A new sink starts at the end of the outbox when the leader's work
	// starts: wait for its bookmark before making changes.
	servertest.Eventually(t, "the cloudevents bookmark", 30*time.Second, func() bool {
		bms, err := cl.Bookmarks(ctx)
		if err != nil {
			return false
		}
		for _, b := range bms.Watchers {
			if b.Name == "cloudevents" {
				return true
			}
		}
		return false
	})
	key := api.Key{Namespace: "default", Name: "observed"}
	if _, err := cl.Create(ctx, &api.LabInstanceRequest{Metadata: api.ObjectMeta{Name: key.Name, Namespace: key.Namespace},
		Spec: api.Spec{LabTemplate: image, StudentEmail: "s@u.edu", DurationMinutes: 5,
			ResourceLimits: &api.ResourceLimits{CPU: "100m", Memory: "32Mi"}}}); err != nil {
		t.Fatal(err)
	}
	servertest.Eventually(t, "RUNNING", 60*time.Second, func() bool {
		l, err := cl.Get(ctx, key)
		return err == nil && l.Status.Phase == api.PhaseRunning
	})
	st, err := cl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Phases[api.PhaseRunning] != 1 || st.Total != 1 || !st.IsLeader || st.Leader != cfg.InstanceID || st.UptimeSeconds <= 0 || st.Version != version {
		t.Fatalf("status = %+v", st)
	}

	text := scrape(t, base)
	for _, want := range []string{
		`labd_labs{phase="RUNNING"} 1`,
		`labd_leader 1`,
		`labd_reconcile_total{result="requeue"}`,
		`labd_http_requests_total{code="201",method="POST",route="/api/lab-instances/"} 1`,
		`labd_outbox_watcher_lag_events{watcher="controller"}`,
		`labd_workqueue_depth`,
		`labd_workqueue_wait_seconds_bucket`,
		`labd_store_scrape_success 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}

	if _, _, err := cl.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	servertest.Eventually(t, "deletion through the finalizer", 60*time.Second, func() bool {
		_, err := cl.Get(ctx, key)
		return api.IsNotFound(err)
	})
	fin, err := cl.Finalizers(ctx)
	if err != nil || fin.Completed != 1 || fin.Pending != 0 || fin.Processing != 0 {
		t.Fatalf("finalizers = %+v (%v)", fin, err)
	}
	text = scrape(t, base)
	if !strings.Contains(text, `labd_finalizer_runs_total{result="success"} 1`) {
		t.Errorf("finalizer run not counted")
	}
	// Every change reached the CloudEvents sink, the deletion last.
	servertest.Eventually(t, "the deleted CloudEvent", 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(received) > 0 && received[len(received)-1]["type"] == api.EventFinalized
	})
	mu.Lock()
	defer mu.Unlock()
	types := map[any]bool{}
	for _, ce := range received {
		types[ce["type"]] = true
		if ce["subject"] != "default/observed" || ce["id"] == "" {
			t.Fatalf("CloudEvent %v", ce)
		}
	}
	for _, want := range []string{api.EventCreated, api.EventStatusUpdated, api.EventReconciled, api.EventDeleted, api.EventFinalized} {
		if !types[want] {
			t.Errorf("sink never got %s (got %v)", want, types)
		}
	}
}

func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/api/status/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return string(b)
}
