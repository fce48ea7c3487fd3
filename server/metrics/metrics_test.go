package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/metrics"
	"github.com/labrm/terraform-provider-lab/server/reconcile"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// failingEngine fails every call with err.
type failingEngine struct {
	reconcile.Engine
	err error
}

func (f failingEngine) Inspect(context.Context, string) (workload.Status, error) {
	return workload.Status{}, f.err
}
func (f failingEngine) Remove(context.Context, string) error { return f.err }

func TestMetricsExposition(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	m.ObserveHTTP("/api/lab-instances/:name", "GET", 404, time.Millisecond)
	m.ObserveHTTP("", "GET", 404, time.Millisecond)
	m.Reconciled("error", time.Millisecond)
	m.QueueWait(2 * time.Millisecond)
	m.FinalizerRun(false)
	m.LeaderChanged(true)
	m.Conflict()
	m.CloudEvents().Failed("http://sink.edu/hook", errors.New("503"), 4*time.Second)
	m.Watch(metrics.Sources{
		Bookmarks: func(context.Context) ([]api.WatcherBookmark, error) {
			return []api.WatcherBookmark{{Name: "controller", Bookmark: 7, Lag: 3}}, nil
		},
		Phases:     func(context.Context) (map[api.Phase]int64, error) { return nil, errors.New("database down") },
		QueueDepth: func() int { return 5 },
	})
	ctx := context.Background()
	// Not found is an answer; anything else is a Docker error.
	e := m.Engine(failingEngine{err: workload.ErrNotFound})
	e.Inspect(ctx, "x")
	e = m.Engine(failingEngine{err: errors.New("engine down")})
	e.Remove(ctx, "x")

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	text := string(body)
	for _, want := range []string{
		`labd_http_requests_total{code="404",method="GET",route="/api/lab-instances/:name"} 1`,
		`labd_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`labd_reconcile_total{result="error"} 1`,
		`labd_finalizer_runs_total{result="failure"} 1`,
		`labd_leader 1`,
		`labd_leader_changes_total 1`,
		`labd_optimistic_lock_conflicts_total 1`,
		`labd_cloudevents_backoff_seconds{sink="http://sink.edu/hook"} 4`,
		`labd_outbox_watcher_lag_events{watcher="controller"} 3`,
		`labd_workqueue_depth 5`,
		`labd_store_scrape_success 0`,
		`labd_docker_errors_total{operation="remove"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
	if strings.Contains(text, `operation="inspect"`) {
		t.Error("a not-found inspect was counted as a Docker error")
	}
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
