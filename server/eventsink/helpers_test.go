package eventsink_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/eventsink"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// testSink is a real HTTP sink that parses requests with the CloudEvents
// SDK, so that the wire format is checked by the reference implementation.
type testSink struct {
	t   *testing.T
	srv *httptest.Server

	// status, when non-zero, is answered instead of 200 (the event is then
	// not recorded as received).
	status atomic.Int32
	// hook, when set, runs for each parsed event before it is recorded;
	// returning false drops the request without an answer being recorded.
	hook atomic.Pointer[func(e *event.Event, w http.ResponseWriter, r *http.Request) bool]

	mu       sync.Mutex
	events   []event.Event // accepted, in arrival order
	attempts int           // every request
	bad      []string      // protocol violations
}

func newSink(t *testing.T) *testSink {
	s := &testSink{t: t}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// newSinkAt serves at addr (a port reserved earlier), retrying briefly in
// case the port is still being released.
func newSinkAt(t *testing.T, addr string) *testSink {
	t.Helper()
	var l net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	s := &testSink{t: t}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Listener.Close()
	s.srv.Listener = l
	s.srv.Start()
	t.Cleanup(s.srv.Close)
	return s
}

// reserveAddr returns a loopback address nothing listens on (connections
// are refused) that newSinkAt can serve later.
func reserveAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func (s *testSink) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.attempts++
	s.mu.Unlock()
	msg := cehttp.NewMessageFromHttpRequest(r)
	if enc := msg.ReadEncoding(); enc != binding.EncodingStructured {
		s.violation("encoding %v, want structured", enc)
		http.Error(w, "want structured mode", http.StatusBadRequest)
		return
	}
	e, err := binding.ToEvent(r.Context(), msg)
	if err != nil {
		s.violation("parse: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := e.Validate(); err != nil {
		s.violation("invalid event: %v", err)
	}
	if r.Method != http.MethodPost {
		s.violation("method %s", r.Method)
	}
	if h := s.hook.Load(); h != nil && !(*h)(e, w, r) {
		return
	}
	if code := s.status.Load(); code != 0 {
		http.Error(w, "sink is unwell", int(code))
		return
	}
	s.mu.Lock()
	s.events = append(s.events, *e)
	s.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func (s *testSink) violation(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bad = append(s.bad, fmt.Sprintf(format, args...))
}

// received returns the accepted events and fails the test on any protocol
// violation seen so far.
func (s *testSink) received() []event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.bad) > 0 {
		s.t.Errorf("sink saw protocol violations: %v", s.bad)
	}
	return append([]event.Event(nil), s.events...)
}

func (s *testSink) attemptCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// recMetrics records what a Dispatcher reports.
type recMetrics struct {
	mu        sync.Mutex
	delivered map[string]int
	failed    map[string]int
	lastErr   map[string]error
	backoff   map[string]time.Duration
	advanced  map[string]int64
}

func newMetrics() *recMetrics {
	return &recMetrics{delivered: map[string]int{}, failed: map[string]int{}, lastErr: map[string]error{},
		backoff: map[string]time.Duration{}, advanced: map[string]int64{}}
}

func (m *recMetrics) Delivered(sink, _ string, _ int, _ time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.delivered[sink]++
	m.backoff[sink] = 0
}

func (m *recMetrics) Failed(sink string, err error, backoff time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failed[sink]++
	m.lastErr[sink] = err
	m.backoff[sink] = backoff
}

func (m *recMetrics) Advanced(sink string, pos int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advanced[sink] = pos
}

func (m *recMetrics) failures(sink string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.failed[sink], m.lastErr[sink]
}

// start runs a dispatcher until the test ends or stop is called; stop
// waits (bounded) for Run to return.
func start(t *testing.T, db *store.DB, cfg eventsink.Config) (d *eventsink.Dispatcher, stop func()) {
	t.Helper()
	cfg.PollInterval = cmpDur(cfg.PollInterval, 200*time.Millisecond)
	cfg.BackoffMin = cmpDur(cfg.BackoffMin, 5*time.Millisecond)
	cfg.BackoffMax = cmpDur(cfg.BackoffMax, 50*time.Millisecond)
	cfg.RequestTimeout = cmpDur(cfg.RequestTimeout, 5*time.Second)
	d, err := eventsink.New(db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("dispatcher did not stop within 15s")
			}
		})
	}
	t.Cleanup(stop)
	return d, stop
}

func cmpDur(a, b time.Duration) time.Duration {
	if a != 0 {
		return a
	}
	return b
}

// bookmark returns the named bookmark, or false if it does not exist.
func bookmark(t *testing.T, db *store.DB, name string) (api.WatcherBookmark, bool) {
	t.Helper()
	bms, err := db.Bookmarks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bms {
		if b.Name == name {
			return b, true
		}
	}
	return api.WatcherBookmark{}, false
}

func waitBookmark(t *testing.T, db *store.DB, name string) {
	t.Helper()
	servertest.Eventually(t, "bookmark "+name+" to exist", 30*time.Second, func() bool { _, ok := bookmark(t, db, name); return ok })
}

func newLab(name string) *api.LabInstanceRequest {
	l := &api.LabInstanceRequest{
		Metadata: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec:     api.Spec{LabTemplate: "busybox", StudentEmail: "s@u.edu", DurationMinutes: 5},
	}
	l.Default()
	return l
}

func mustCreate(t *testing.T, db *store.DB, name string) *api.LabInstanceRequest {
	t.Helper()
	l, err := db.CreateLab(context.Background(), newLab(name))
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return l
}

func installation(t *testing.T, db *store.DB) string {
	t.Helper()
	id, err := db.InstallationID(context.Background())
	if err != nil || id == "" {
		t.Fatalf("installation id %q: %v", id, err)
	}
	return id
}

// ids lists event ids in order.
func ids(evs []event.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID()
	}
	return out
}

// wantIDs lists the CloudEvent ids of outbox events in order.
func wantIDs(inst string, evs []store.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = eventsink.EventID(inst, e.ID)
	}
	return out
}

// dedup drops repeated ids, keeping first arrivals in order, as a consumer does.
func dedup(evs []event.Event) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range evs {
		if !seen[e.ID()] {
			seen[e.ID()] = true
			out = append(out, e.ID())
		}
	}
	return out
}
