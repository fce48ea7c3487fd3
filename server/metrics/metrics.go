// Package metrics is labd's Prometheus instrumentation: one registry, the
// collectors every part reports to, and gauges read from the store at
// scrape time. Parts do not import Prometheus; they report through small
// interfaces (reconcile.Observer, store.Config.OnConflict, ...) that
// Metrics implements, so that a test can pass nothing.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/reconcile"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

const namespace = "labd"

// Metrics holds labd's collectors.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests   *prometheus.CounterVec
	httpDuration   *prometheus.HistogramVec
	reconciles     *prometheus.CounterVec
	reconcileTime  *prometheus.HistogramVec
	queueWait      prometheus.Histogram
	finalizerRuns  *prometheus.CounterVec
	leader         prometheus.Gauge
	leaderChanges  prometheus.Counter
	conflicts      prometheus.Counter
	dockerErrors   *prometheus.CounterVec
	deliveries     *prometheus.CounterVec
	deliveryErrors *prometheus.CounterVec
	deliveryTime   *prometheus.HistogramVec
	deliveryWait   *prometheus.GaugeVec
}

// New returns the metrics of one labd process, with Go runtime and process
// collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg}
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "http_requests_total",
		Help: "HTTP requests served, by route template, method and status code."}, []string{"route", "method", "code"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "http_request_duration_seconds",
		Help: "HTTP request latency, by route template and method (watch streams last until they end).", Buckets: prometheus.DefBuckets},
		[]string{"route", "method"})
	m.reconciles = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "reconcile_total",
		Help: "Reconciles, by result: success, requeue, conflict or error."}, []string{"result"})
	m.reconcileTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "reconcile_duration_seconds",
		Help: "Reconcile duration, by result.", Buckets: prometheus.DefBuckets}, []string{"result"})
	m.queueWait = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "workqueue_wait_seconds",
		Help:    "How long a lab waited in the work queue before a worker took it.",
		Buckets: []float64{.0005, .001, .005, .01, .05, .1, .5, 1, 5, 30}})
	m.finalizerRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "finalizer_runs_total",
		Help: "Runs of the lab finalizer, by result: success or failure."}, []string{"result"})
	m.leader = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "leader",
		Help: "1 while this replica is the leader that reconciles, else 0."})
	m.leaderChanges = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "leader_changes_total",
		Help: "Times this replica gained or lost leadership."})
	m.conflicts = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "optimistic_lock_conflicts_total",
		Help: "Writes refused because the lab changed since it was read."})
	m.dockerErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "docker_errors_total",
		Help: "Failed Docker engine calls, by operation."}, []string{"operation"})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "cloudevents_delivered_total",
		Help: "CloudEvents delivered, by sink and event type."}, []string{"sink", "type"})
	m.deliveryErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "cloudevents_delivery_failures_total",
		Help: "Failed CloudEvents delivery attempts, by sink."}, []string{"sink"})
	m.deliveryTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "cloudevents_delivery_duration_seconds",
		Help: "Time to deliver one CloudEvent, retries included, by sink.", Buckets: prometheus.DefBuckets}, []string{"sink"})
	m.deliveryWait = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "cloudevents_backoff_seconds",
		Help: "Current retry backoff of a sink (0 while deliveries succeed)."}, []string{"sink"})
	reg.MustRegister(m.httpRequests, m.httpDuration, m.reconciles, m.reconcileTime, m.queueWait, m.finalizerRuns,
		m.leader, m.leaderChanges, m.conflicts, m.dockerErrors, m.deliveries, m.deliveryErrors, m.deliveryTime, m.deliveryWait,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Registry is the registry, for parts that bring their own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveHTTP records one request; route is the route template, never
// the raw path, so that lab names do not become label values.
func (m *Metrics) ObserveHTTP(route, method string, code int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.httpDuration.WithLabelValues(route, method).Observe(d.Seconds())
}

// Reconciled implements reconcile.Observer.
func (m *Metrics) Reconciled(result string, d time.Duration) {
	m.reconciles.WithLabelValues(result).Inc()
	m.reconcileTime.WithLabelValues(result).Observe(d.Seconds())
}

// QueueWait implements reconcile.Observer.
func (m *Metrics) QueueWait(d time.Duration) { m.queueWait.Observe(d.Seconds()) }

// FinalizerRun implements reconcile.Observer.
func (m *Metrics) FinalizerRun(ok bool) {
	result := "success"
	if !ok {
		result = "failure"
	}
	m.finalizerRuns.WithLabelValues(result).Inc()
}

// LeaderChanged is leader.Config.OnChange.
func (m *Metrics) LeaderChanged(leading bool) {
	m.leaderChanges.Inc()
	if leading {
		m.leader.Set(1)
	} else {
		m.leader.Set(0)
	}
}

// Conflict is store.Config.OnConflict.
func (m *Metrics) Conflict() { m.conflicts.Inc() }

// CloudEvents returns the observer of CloudEvents delivery (it satisfies
// eventsink.Metrics).
func (m *Metrics) CloudEvents() CloudEventsObserver { return CloudEventsObserver{m} }

// CloudEventsObserver counts CloudEvents deliveries; sink labels never
// hold credentials (eventsink redacts them).
type CloudEventsObserver struct{ m *Metrics }

// Delivered counts one event delivered to sink.
func (o CloudEventsObserver) Delivered(sink, eventType string, attempt int, took time.Duration) {
	o.m.deliveries.WithLabelValues(sink, eventType).Inc()
	o.m.deliveryTime.WithLabelValues(sink).Observe(took.Seconds())
	o.m.deliveryWait.WithLabelValues(sink).Set(0)
}

// Failed counts a failed attempt and shows the backoff before the next.
func (o CloudEventsObserver) Failed(sink string, err error, backoff time.Duration) {
	o.m.deliveryErrors.WithLabelValues(sink).Inc()
	o.m.deliveryWait.WithLabelValues(sink).Set(backoff.Seconds())
}

// Advanced is a no-op: bookmark positions are read from the store.
func (o CloudEventsObserver) Advanced(string, int64) {}

// Sources are the values read at scrape time.
type Sources struct {
	Bookmarks  func(ctx context.Context) ([]api.WatcherBookmark, error)
	Phases     func(ctx context.Context) (map[api.Phase]int64, error)
	QueueDepth func() int
}

// Watch registers the gauges read at scrape time: bookmark lag per
// watcher, labs per phase and work-queue depth.
func (m *Metrics) Watch(src Sources) {
	m.reg.MustRegister(&storeCollector{src: src,
		lag:   prometheus.NewDesc(namespace+"_outbox_watcher_lag_events", "Change events an outbox watcher has still to handle.", []string{"watcher"}, nil),
		pos:   prometheus.NewDesc(namespace+"_outbox_watcher_bookmark", "Outbox position an outbox watcher has handled up to.", []string{"watcher"}, nil),
		labs:  prometheus.NewDesc(namespace+"_labs", "Lab instances, by phase.", []string{"phase"}, nil),
		depth: prometheus.NewDesc(namespace+"_workqueue_depth", "Labs ready to be reconciled (0 on a standby).", nil, nil),
		up:    prometheus.NewDesc(namespace+"_store_scrape_success", "1 if the last scrape could read the store, else 0.", nil, nil),
	})
}

// storeCollector reads the store when scraped, bounded in time, so that
// the numbers are the database's (the same on every replica), not one
// process's memory.
type storeCollector struct {
	src                       Sources
	lag, pos, labs, depth, up *prometheus.Desc
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lag
	ch <- c.pos
	ch <- c.labs
	ch <- c.depth
	ch <- c.up
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ok := 1.0
	if c.src.Bookmarks != nil {
		if bms, err := c.src.Bookmarks(ctx); err == nil {
			for _, b := range bms {
				ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(b.Lag), b.Name)
				ch <- prometheus.MustNewConstMetric(c.pos, prometheus.GaugeValue, float64(b.Bookmark), b.Name)
			}
		} else {
			ok = 0
		}
	}
	if c.src.Phases != nil {
		if phases, err := c.src.Phases(ctx); err == nil {
			for p, n := range phases {
				ch <- prometheus.MustNewConstMetric(c.labs, prometheus.GaugeValue, float64(n), string(p))
			}
		} else {
			ok = 0
		}
	}
	if c.src.QueueDepth != nil {
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(c.src.QueueDepth()))
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, ok)
}

// Engine wraps the controller's engine and counts its failed calls (the
// docker_errors_total metric keeps its name: Docker is the engine labd
// runs today). Not found is an answer, not a failure.
func (m *Metrics) Engine(e reconcile.Engine) reconcile.Engine { return &countingEngine{e: e, m: m} }

type countingEngine struct {
	e reconcile.Engine
	m *Metrics
}

func (c *countingEngine) count(op string, err error) {
	if err != nil && !errors.Is(err, workload.ErrNotFound) && !errors.Is(err, context.Canceled) {
		c.m.dockerErrors.WithLabelValues(op).Inc()
	}
}

func (c *countingEngine) Ensure(ctx context.Context, spec workload.Spec) (workload.Status, error) {
	st, err := c.e.Ensure(ctx, spec)
	c.count("ensure", err)
	return st, err
}

func (c *countingEngine) Inspect(ctx context.Context, name string) (workload.Status, error) {
	st, err := c.e.Inspect(ctx, name)
	c.count("inspect", err)
	return st, err
}

func (c *countingEngine) Stop(ctx context.Context, name string, timeout time.Duration) error {
	err := c.e.Stop(ctx, name, timeout)
	c.count("stop", err)
	return err
}

func (c *countingEngine) Remove(ctx context.Context, name string) error {
	err := c.e.Remove(ctx, name)
	c.count("remove", err)
	return err
}

func (c *countingEngine) Logs(ctx context.Context, name string, lines int) (string, error) {
	out, err := c.e.Logs(ctx, name, lines)
	c.count("logs", err)
	return out, err
}

func (c *countingEngine) List(ctx context.Context) ([]workload.Status, error) {
	out, err := c.e.List(ctx)
	c.count("list", err)
	return out, err
}

func (c *countingEngine) ListWorkspaces(ctx context.Context) ([]workload.Workspace, error) {
	out, err := c.e.ListWorkspaces(ctx)
	c.count("list_workspaces", err)
	return out, err
}

func (c *countingEngine) RemoveWorkspace(ctx context.Context, name string) error {
	err := c.e.RemoveWorkspace(ctx, name)
	c.count("remove_workspace", err)
	return err
}

func (c *countingEngine) Capacity(ctx context.Context) (workload.Resources, error) {
	r, err := c.e.Capacity(ctx)
	c.count("capacity", err)
	return r, err
}

func (c *countingEngine) Ping(ctx context.Context) error {
	err := c.e.Ping(ctx)
	c.count("ping", err)
	return err
}

func (c *countingEngine) Restart(ctx context.Context, spec workload.Spec) (workload.Status, error) {
	st, err := c.e.Restart(ctx, spec)
	c.count("restart", err)
	return st, err
}

func (c *countingEngine) Largest(ctx context.Context) (workload.Resources, error) {
	r, err := c.e.Largest(ctx)
	c.count("largest", err)
	return r, err
}
