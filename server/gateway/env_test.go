package gateway_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/docker"
	"github.com/labrm/terraform-provider-lab/server/gateway"
	"github.com/labrm/terraform-provider-lab/server/reconcile"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// Tests here run the gateway in front of real labs: a store on the test
// PostgreSQL, the lab controller on the real Docker engine, the test app
// image (internal/testapp) and the busybox one.

// clock is real time plus an offset the test can move forward; the
// controller and the gateway share it.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// env is one gateway with its controller, store and labs.
type env struct {
	t       testing.TB
	db      *store.DB
	rt      *docker.Engine
	gw      *gateway.Gateway
	srv     *httptest.Server
	base    string // http://127.0.0.1:port
	logs    *servertest.LogBuffer
	clock   *clock
	app     string // the test app image
	busybox string // the busybox test image
}

// apiToken stands for one of labd's API tokens: the gateway must never
// forward it to a lab.
const apiToken = "labd-api-token-0123456789abcdef"

// newEnv starts a controller and a gateway (tuned by tune) on a fresh
// database. Everything logs, at debug level, into env.logs.
func newEnv(t testing.TB, tune func(*gateway.Config)) *env {
	return newEnvLogging(t, slog.LevelDebug, tune)
}

// newEnvLogging is newEnv logging at level.
func newEnvLogging(t testing.TB, level slog.Level, tune func(*gateway.Config)) *env {
	t.Helper()
	e := &env{t: t, app: servertest.TestApp(t), busybox: servertest.Docker(t), logs: &servertest.LogBuffer{}, clock: &clock{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: level}))
	var handler atomic.Pointer[http.Handler]
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*handler.Load()).ServeHTTP(w, r) }))
	t.Cleanup(e.srv.Close)
	e.base = e.srv.URL
	u, _ := url.Parse(e.base)

	ctx := context.Background()
	var err error
	e.db, err = store.Open(ctx, store.Config{URL: servertest.PostgresURL(t), Logger: log.With("component", "store")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	cfg := gateway.Config{Store: e.db, Host: u.Host, Logger: log.With("component", "gateway"), Now: e.clock.Now,
		IsAPIToken: func(tok string) bool { return tok == apiToken }, FlushInterval: time.Hour}
	if tune != nil {
		tune(&cfg)
	}
	e.gw = gateway.New(cfg)
	h := e.gw.Handler(http.NotFoundHandler())
	handler.Store(&h)

	e.rt, err = docker.New(docker.Config{Logger: log.With("component", "docker")})
	if err != nil {
		t.Fatal(err)
	}
	ctrl := reconcile.New(reconcile.Config{
		Store: e.db, Engine: e.rt, Capacity: workload.Resources{MilliCPU: 4000, MemoryBytes: 8 << 30},
		AccessURL: e.gw.URL, StopTimeout: 2 * time.Second, ProbeInterval: 200 * time.Millisecond, ReadyRecheck: 200 * time.Millisecond,
		ResyncPeriod: time.Second, GCGrace: time.Hour, Logger: log.With("component", "controller"), Now: e.clock.Now,
	})
	term, err := e.db.StartTerm(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	go func() { ctrl.Run(runCtx, term); done <- struct{}{} }()
	go func() { e.gw.Run(runCtx); done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Error("controller or gateway did not stop within 30s")
			}
		}
		e.removeContainers()
	})
	return e
}

// removeContainers removes what this test's labs left behind.
func (e *env) removeContainers() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := e.db.InstallationID(ctx)
	if err != nil {
		return
	}
	all, _ := e.rt.List(ctx)
	for _, c := range all {
		if c.Labels[workload.LabelInstallation] == id {
			e.rt.Remove(ctx, c.Name)
		}
	}
}

// create makes a lab of the test app serving on port 8080, changed by
// mutate.
func (e *env) create(name string, mutate func(*api.LabInstanceRequest)) *api.LabInstanceRequest {
	e.t.Helper()
	l := &api.LabInstanceRequest{
		Metadata: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.Spec{LabTemplate: e.app, StudentEmail: "student@university.edu", DurationMinutes: 60, Port: 8080,
			ResourceLimits: &api.ResourceLimits{CPU: "250m", Memory: "64Mi"}},
	}
	if mutate != nil {
		mutate(l)
	}
	out, err := e.db.CreateLab(context.Background(), l)
	if err != nil {
		e.t.Fatalf("create %s: %v", name, err)
	}
	return out
}

// waitFor polls the lab until cond holds (60 s at most).
func (e *env) waitFor(key api.Key, what string, cond func(*api.LabInstanceRequest) bool) *api.LabInstanceRequest {
	e.t.Helper()
	var last *api.LabInstanceRequest
	servertest.Eventually(e.t, key.String()+" "+what, 60*time.Second, func() bool {
		l, err := e.db.GetLab(context.Background(), key)
		last = l
		return err == nil && cond(l)
	})
	return last
}

func (e *env) waitPhase(key api.Key, p api.Phase) *api.LabInstanceRequest {
	e.t.Helper()
	return e.waitFor(key, "phase "+string(p), func(l *api.LabInstanceRequest) bool { return l.Status.Phase == p })
}

// running creates a lab and waits until it runs.
func (e *env) running(name string, mutate func(*api.LabInstanceRequest)) *api.LabInstanceRequest {
	e.t.Helper()
	return e.waitPhase(e.create(name, mutate).Key(), api.PhaseRunning)
}

// token is the lab's access token.
func (e *env) token(key api.Key) string {
	e.t.Helper()
	_, tok, err := e.db.LabAccess(context.Background(), key)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// url is the lab's gateway URL with path below it.
func (e *env) url(key api.Key, path string) string {
	return e.base + "/labs/" + key.Namespace + "/" + key.Name + path
}

// noRedirects is a client that shows redirects instead of following them.
var noRedirects = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// do sends a request with headers (name, value pairs) and returns the
// response with its body read.
func do(t testing.TB, method, url string, headers ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp, string(b)
}

// cookie is the Cookie header carrying a lab's token.
func cookie(token string) string { return gateway.CookieName + "=" + token }

// noSecret fails the test if any of the places a token must never be
// holds one of tokens: the captured logs, the outbox (object and message
// of every event), the labs as stored and their histories.
func (e *env) noSecret(tokens ...string) {
	e.t.Helper()
	ctx := context.Background()
	var blobs []string
	blobs = append(blobs, e.logs.String())
	for _, ev := range servertest.AllEvents(e.t, e.db) {
		blobs = append(blobs, ev.Message, asJSON(e.t, ev.Object))
	}
	list, err := e.db.ListLabs(ctx, store.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	blobs = append(blobs, asJSON(e.t, list))
	for _, l := range list.Items {
		h, err := e.db.LabHistory(ctx, l.Key())
		if err != nil {
			e.t.Fatal(err)
		}
		blobs = append(blobs, asJSON(e.t, h))
	}
	for _, tok := range tokens {
		for _, b := range blobs {
			if strings.Contains(b, tok) {
				e.t.Fatalf("a token appears where it never may: %.300s", b[max(0, strings.Index(b, tok)-200):])
			}
		}
	}
}
