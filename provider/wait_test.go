package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflogtest"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/internal/client"
)

// fakeLabd serves one lab over GET, list and watch, for the wait loop's
// unit tests: the real labd is exercised by the acceptance tests; this one
// makes the failure paths (410, no watch, silence) happen on demand.
type fakeLabd struct {
	mu     sync.Mutex
	lab    *api.LabInstanceRequest // nil: 404
	events chan api.WatchEvent     // what the open watch streams
	// watchStatus, when set, answers every watch with that status.
	watchStatus int
	// closeWatch ends every watch at once with no events.
	closeWatch bool
	// onWatch, if set, is called with the count of watches so far as each
	// one is answered, before its response.
	onWatch func(n int32)

	gets, lists, watches atomic.Int32
	lastWatchQuery       atomic.Value
}

func newFakeLabd(t *testing.T, phase api.Phase) (*fakeLabd, *client.Client) {
	t.Helper()
	f := &fakeLabd{events: make(chan api.WatchEvent, 16)}
	f.lab = &api.LabInstanceRequest{
		Metadata: api.ObjectMeta{Namespace: "default", Name: "lab1", UID: "u1", ResourceVersion: 10},
		Spec:     api.Spec{LabTemplate: "labrm/busybox:test", StudentEmail: "s@u.edu", DurationMinutes: 30},
		Status:   api.Status{Phase: phase},
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, client.WithRetry(client.RetryPolicy{MaxAttempts: 2, MinBackoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

// set changes the lab (nil deletes it) and streams the change.
func (f *fakeLabd) set(phase api.Phase, msg string) {
	f.mu.Lock()
	l := f.lab.DeepCopy()
	l.Status.Phase, l.Status.ErrorMessage = phase, msg
	l.Metadata.ResourceVersion++
	f.lab = l
	f.mu.Unlock()
	f.events <- api.WatchEvent{Type: api.WatchModified, Object: l}
}

func (f *fakeLabd) setQuietly(phase api.Phase) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.lab.DeepCopy()
	l.Status.Phase = phase
	l.Metadata.ResourceVersion++
	f.lab = l
}

func (f *fakeLabd) current() *api.LabInstanceRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lab.DeepCopy()
}

func (f *fakeLabd) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/api/lab-instances/" && r.URL.Query().Get("watch") == "true":
		n := f.watches.Add(1)
		f.lastWatchQuery.Store(r.URL.RawQuery)
		if f.onWatch != nil {
			f.onWatch(n)
		}
		if f.watchStatus != 0 {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(f.watchStatus)
			_ = json.NewEncoder(w).Encode(api.Problem{Status: f.watchStatus, Detail: "watch says no"})
			return
		}
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		if f.closeWatch {
			return
		}
		enc := json.NewEncoder(w)
		for {
			select {
			case <-r.Context().Done():
				return
			case ev := <-f.events:
				_ = enc.Encode(ev)
				w.(http.Flusher).Flush()
			}
		}
	case r.URL.Path == "/api/lab-instances/":
		f.lists.Add(1)
		_ = json.NewEncoder(w).Encode(api.LabInstanceRequestList{Metadata: api.ListMeta{ResourceVersion: f.current().Metadata.ResourceVersion}})
	case r.URL.Path == "/api/lab-instances/lab1":
		f.gets.Add(1)
		l := f.current()
		if l == nil {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(404)
			_ = json.NewEncoder(w).Encode(api.Problem{Status: 404, Detail: "lab default/lab1 not found", Code: api.ENOTFOUND})
			return
		}
		_ = json.NewEncoder(w).Encode(l)
	default:
		w.WriteHeader(404)
	}
}

var (
	key1     = api.Key{Namespace: "default", Name: "lab1"}
	fastWait = waitConfig{PollMin: 5 * time.Millisecond, PollMax: 20 * time.Millisecond, Resync: 2 * time.Second}
)

func TestWaitRunningThroughWatch(t *testing.T) {
	t.Parallel()
	f, c := newFakeLabd(t, api.PhasePending)
	go func() {
		f.set(api.PhaseProvisioning, "")
		f.set(api.PhaseRunning, "")
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	l, err := awaitLab(ctx, c, fastWait, key1, f.current(), 10*time.Second, "to be RUNNING", untilPhase(key1, api.PhaseRunning))
	if err != nil {
		t.Fatal(err)
	}
	if l.Status.Phase != api.PhaseRunning {
		t.Fatalf("phase %s, want RUNNING", l.Status.Phase)
	}
	if f.gets.Load() != 0 || f.watches.Load() != 1 {
		t.Errorf("%d GETs and %d watches; want the change seen on one watch, no polling", f.gets.Load(), f.watches.Load())
	}
	if q, _ := f.lastWatchQuery.Load().(string); q != "name=lab1&namespace=default&resource_version=10&watch=true" {
		t.Errorf("watch query %q; want name filter and the created object's version", q)
	}
}

func TestWaitFailedQuotesMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		phase api.Phase
		want  string
	}{
		{api.PhaseFailed, `lab default/lab1 FAILED: "pull image labrm/nope:1: not found"`},
		{api.PhaseTimeout, `lab default/lab1 reached TIMEOUT before it was seen RUNNING: "pull image labrm/nope:1: not found"`},
		{api.PhaseCompleted, `lab default/lab1 reached COMPLETED before it was seen RUNNING`},
	} {
		t.Run(string(tc.phase), func(t *testing.T) {
			t.Parallel()
			f, c := newFakeLabd(t, api.PhasePending)
			go f.set(tc.phase, "pull image labrm/nope:1: not found")
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			l, err := awaitLab(ctx, c, fastWait, key1, f.current(), 10*time.Second, "to be RUNNING", untilPhase(key1, api.PhaseRunning))
			var pe *phaseError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want a phase error containing %q", err, tc.want)
			}
			if l == nil || l.Status.Phase != tc.phase {
				t.Errorf("last state %v; want the %s object, to record in state", l, tc.phase)
			}
		})
	}
}

func TestWaitTimeoutNamesLastPhase(t *testing.T) {
	t.Parallel()
	f, c := newFakeLabd(t, api.PhasePending)
	go f.set(api.PhaseProvisioning, "")
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := awaitLab(ctx, c, fastWait, key1, f.current(), 300*time.Millisecond, "to be RUNNING", untilPhase(key1, api.PhaseRunning))
	if err == nil || !strings.Contains(err.Error(), "timed out after 300ms waiting for lab default/lab1 to be RUNNING; last phase seen: PROVISIONING") {
		t.Fatalf("err = %v; want a timeout naming PROVISIONING", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("returned after %v", d)
	}
}

func TestWaitCancel(t *testing.T) {
	t.Parallel()
	f, c := newFakeLabd(t, api.PhasePending)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := awaitLab(ctx, c, fastWait, key1, f.current(), time.Hour, "to be RUNNING", untilPhase(key1, api.PhaseRunning))
	if err == nil || !strings.Contains(err.Error(), "interrupted while waiting for lab default/lab1 to be RUNNING; last phase seen: PENDING") {
		t.Fatalf("err = %v; want an interruption naming PENDING", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned %v after start; want promptly after cancel", d)
	}
}

// TestWaitGoneFallsBack: every watch is answered 410. The waiter relists
// (list for the collection position, then GET) and, after a second 410,
// polls with backoff until the lab runs.
func TestWaitGoneFallsBack(t *testing.T) {
	t.Parallel()
	f, c := newFakeLabd(t, api.PhasePending)
	f.watchStatus = http.StatusGone
	go func() {
		_ = eventually(t.Context(), 5*time.Second, 5*time.Millisecond, func(context.Context) error {
			if f.gets.Load() < 4 {
				return errors.New("fewer than 4 GETs")
			}
			return nil
		})
		f.setQuietly(api.PhaseRunning)
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	l, err := awaitLab(ctx, c, fastWait, key1, f.current(), 10*time.Second, "to be RUNNING", untilPhase(key1, api.PhaseRunning))
	if err != nil || l.Status.Phase != api.PhaseRunning {
		t.Fatalf("wait = %v, %v; want RUNNING", l, err)
	}
	if f.watches.Load() != 2 || f.lists.Load() != 1 || f.gets.Load() < 4 {
		t.Errorf("%d watches, %d lists, %d GETs; want 2 watches (410 twice), 1 relist, then polling", f.watches.Load(), f.lists.Load(), f.gets.Load())
	}
}

// TestWaitWithoutWatch: a server that does not offer watches is polled.
func TestWaitWithoutWatch(t *testing.T) {
	t.Parallel()
	f, c := newFakeLabd(t, api.PhasePending)
	f.watchStatus = http.StatusBadRequest
	time.AfterFunc(100*time.Millisecond, func() { f.setQuietly(api.PhaseRunning) })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	l, err := awaitLab(ctx, c, fastWait, key1, f.current(), 10*time.Second, "to be RUNNING", untilPhase(key1, api.PhaseRunning))
	if err != nil || l.Status.Phase != api.PhaseRunning {
		t.Fatalf("wait = %v, %v; want RUNNING", l, err)
	}
	if f.watches.Load() != 1 {
		t.Errorf("%d watches; want 1, then polling only", f.watches.Load())
	}
}

// TestWaitStreamClosingAtOnce: a server that ends every stream at once is
// not re-watched in a hot loop: after MaxWatchFailures the waiter polls.
func TestWaitStreamClosingAtOnce(t *testing.T) {
	t.Parallel()
	f, c := newFakeLabd(t, api.PhasePending)
	f.closeWatch = true
	// The lab runs from the last watch the waiter may try on: it must
	// then find it by polling, not by watching again (a timer here made
	// the count depend on the machine's load).
	maxFailures := int32(waitConfig{}.withDefaults().MaxWatchFailures)
	f.onWatch = func(n int32) {
		if n == maxFailures {
			f.setQuietly(api.PhaseRunning)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	l, err := awaitLab(ctx, c, fastWait, key1, f.current(), 10*time.Second, "to be RUNNING", untilPhase(key1, api.PhaseRunning))
	if err != nil || l.Status.Phase != api.PhaseRunning {
		t.Fatalf("wait = %v, %v; want RUNNING", l, err)
	}
	if n := f.watches.Load(); n != int32(waitConfig{}.withDefaults().MaxWatchFailures) {
		t.Errorf("%d watches; want %d then polling", n, waitConfig{}.withDefaults().MaxWatchFailures)
	}
}

// TestWaitResync: a silent stream is abandoned after Resync and the lab is
// read again, so a change the stream never delivers is still seen.
func TestWaitResync(t *testing.T) {
	t.Parallel()
	f, c := newFakeLabd(t, api.PhasePending)
	f.setQuietly(api.PhaseRunning) // changed, but never streamed
	cfg := fastWait
	cfg.Resync = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	stale := f.current()
	stale.Status.Phase = api.PhasePending
	l, err := awaitLab(ctx, c, cfg, key1, stale, 10*time.Second, "to be RUNNING", untilPhase(key1, api.PhaseRunning))
	if err != nil || l.Status.Phase != api.PhaseRunning {
		t.Fatalf("wait = %v, %v; want RUNNING", l, err)
	}
}

func TestWaitGone(t *testing.T) {
	t.Parallel()
	t.Run("DELETED event", func(t *testing.T) {
		t.Parallel()
		f, c := newFakeLabd(t, api.PhaseRunning)
		go func() {
			l := f.current()
			f.mu.Lock()
			f.lab = nil
			f.mu.Unlock()
			f.events <- api.WatchEvent{Type: api.WatchDeleted, Object: l}
		}()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		l, err := awaitLab(ctx, c, fastWait, key1, f.current(), 10*time.Second, "to be deleted", untilGone)
		if err != nil || l != nil {
			t.Fatalf("wait = %v, %v; want gone", l, err)
		}
	})
	t.Run("deleted while waiting for RUNNING", func(t *testing.T) {
		t.Parallel()
		f, c := newFakeLabd(t, api.PhasePending)
		f.watchStatus = http.StatusNotFound
		f.mu.Lock()
		f.lab = nil
		f.mu.Unlock()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		_, err := awaitLab(ctx, c, fastWait, key1, nil, 10*time.Second, "to be RUNNING", untilPhase(key1, api.PhaseRunning))
		if err == nil || !strings.Contains(err.Error(), "was deleted while waiting") {
			t.Fatalf("err = %v; want deleted while waiting", err)
		}
	})
}

func TestWaitPendingReturnsAtOnce(t *testing.T) {
	t.Parallel()
	f, c := newFakeLabd(t, api.PhasePending)
	l, err := awaitLab(t.Context(), c, fastWait, key1, f.current(), time.Second, "to be PENDING", untilPhase(key1, api.PhasePending))
	if err != nil || l.Status.Phase != api.PhasePending || f.gets.Load()+f.watches.Load() != 0 {
		t.Fatalf("wait = %v, %v after %d requests; want PENDING at once", l, err, f.gets.Load()+f.watches.Load())
	}
}

// TestWaitQueuedForCapacity: while labd keeps the lab in its capacity
// queue, the wait logs its place each time it changes; a timeout there
// quotes the condition and says where to look.
func TestWaitQueuedForCapacity(t *testing.T) {
	t.Parallel()
	f, c := newFakeLabd(t, api.PhasePending)
	queue := func(pos int) {
		f.mu.Lock()
		l := f.lab.DeepCopy()
		l.SetCondition(api.Condition{Type: api.ConditionScheduled, Status: api.ConditionFalse, Reason: api.ReasonInsufficientCapacity,
			Message: api.QueueMessage(pos, 12, "labs are ahead of it; it needs cpu 1, memory 2Gi")}, time.Now())
		l.Metadata.ResourceVersion++
		f.lab = l
		f.mu.Unlock()
		f.events <- api.WatchEvent{Type: api.WatchModified, Object: l}
	}
	var logs bytes.Buffer
	ctx := tflogtest.RootLogger(t.Context(), &logs)
	ctx, cancel := context.WithTimeout(ctx, 600*time.Millisecond)
	defer cancel()
	go func() {
		queue(7)
		time.Sleep(100 * time.Millisecond)
		queue(3)
	}()
	_, err := awaitLab(ctx, c, fastWait, key1, f.current(), 600*time.Millisecond, "to be RUNNING", untilPhase(key1, api.PhaseRunning))
	if err == nil || !strings.Contains(err.Error(), "last phase seen: PENDING, queued for capacity (Scheduled=False InsufficientCapacity: position 3 of 12 in the capacity queue") ||
		!strings.Contains(err.Error(), "/api/status/capacity") {
		t.Fatalf("err = %v; want a timeout quoting the queue condition", err)
	}
	entries, err := tflogtest.MultilineJSONDecode(&logs)
	if err != nil {
		t.Fatal(err)
	}
	var positions []any
	for _, e := range entries {
		if e["@message"] == "lab queued for capacity" {
			positions = append(positions, e["position"])
		}
	}
	if len(positions) != 2 || positions[0] != float64(7) || positions[1] != float64(3) {
		t.Fatalf("queue positions logged: %v; want 7 then 3 (logs: %s)", positions, logs.String())
	}
}
