package eventsink_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/eventsink"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/store/storetest"
)

// TestDeliversChangesAsCloudEvents drives a lab through its life and checks
// every attribute of what a real sink parsed.
func TestDeliversChangesAsCloudEvents(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		sink := newSink(t)
		inst := installation(t, db)
		mustCreate(t, db, "before") // before the sink existed: not delivered
		before := servertest.AllEvents(t, db)

		d, _ := start(t, db, eventsink.Config{Sinks: []string{sink.srv.URL + "/events"}, Instance: "labd-0"})
		waitBookmark(t, db, eventsink.BookmarkName)

		l := mustCreate(t, db, "lab1")
		key := l.Key()
		if _, err := db.UpdateLab(ctx, key, store.WriteOptions{}, func(l *api.LabInstanceRequest) error {
			l.Spec.DurationMinutes = 10
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		cur, err := db.UpdateLab(ctx, key, store.WriteOptions{}, func(l *api.LabInstanceRequest) error {
			return l.Transition(api.PhaseProvisioning, "Scheduled", "placed", time.Now())
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.AppendEvent(ctx, cur, api.EventReconciled, "container started", store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, deleted, err := db.DeleteLab(ctx, key, store.WriteOptions{}); err != nil {
			t.Fatal(err)
		} else if !deleted {
			if _, err := db.UpdateLab(ctx, key, store.WriteOptions{}, func(l *api.LabInstanceRequest) error {
				l.Metadata.Finalizers = nil
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		want := servertest.AllEvents(t, db)[len(before):]
		servertest.Eventually(t, "every event at the sink", 30*time.Second, func() bool { return len(sink.received()) >= len(want) })
		got := sink.received()
		if !slices.Equal(ids(got), wantIDs(inst, want)) {
			t.Fatalf("ids = %v, want %v", ids(got), wantIDs(inst, want))
		}
		var types []string
		for i, e := range got {
			ev := want[i]
			types = append(types, e.Type())
			checkEvent(t, e, ev, inst)
		}
		for _, typ := range []string{api.EventCreated, api.EventUpdated, api.EventStatusUpdated, api.EventReconciled, api.EventDeleted} {
			if !slices.Contains(types, typ) {
				t.Errorf("no %s event among %v", typ, types)
			}
		}
		servertest.Eventually(t, "bookmark to catch up", 30*time.Second, func() bool {
			b, _ := bookmark(t, db, eventsink.BookmarkName)
			return b.Lag == 0 && b.Bookmark == want[len(want)-1].Position
		})
		st := d.Status()
		if len(st) != 1 || st[0].Delivered != int64(len(want)) || st[0].Bookmark != eventsink.BookmarkName ||
			st[0].Sink != sink.srv.URL+"/events" || st[0].ConsecutiveFailures != 0 {
			t.Errorf("status = %+v", st)
		}
	})
}

// checkEvent compares a received CloudEvent with the outbox row it came from.
func checkEvent(t *testing.T, e event.Event, ev store.Event, inst string) {
	t.Helper()
	if e.SpecVersion() != event.CloudEventsVersionV1 {
		t.Errorf("specversion %q", e.SpecVersion())
	}
	if e.Type() != ev.Type || e.Source() != "/labd/"+inst || e.Subject() != "default/lab1" {
		t.Errorf("event %s: type %q source %q subject %q; want %q /labd/%s default/lab1", e.ID(), e.Type(), e.Source(), e.Subject(), ev.Type, inst)
	}
	if !e.Time().Equal(ev.Time) {
		t.Errorf("event %s: time %v, want %v", e.ID(), e.Time(), ev.Time)
	}
	if e.DataContentType() != "application/json" {
		t.Errorf("event %s: datacontenttype %q", e.ID(), e.DataContentType())
	}
	ext := e.Extensions()
	wantExt := map[string]string{
		eventsink.ExtPosition:        fmt.Sprint(ev.Position),
		eventsink.ExtResourceVersion: fmt.Sprint(ev.Object.Metadata.ResourceVersion),
		eventsink.ExtLabUID:          ev.UID,
		eventsink.ExtPartitionKey:    "default/lab1",
		eventsink.ExtInstance:        "labd-0",
	}
	for k, v := range wantExt {
		if got := fmt.Sprint(ext[k]); got != v {
			t.Errorf("event %s: extension %s = %q, want %q", e.ID(), k, got, v)
		}
	}
	var data eventsink.Data
	if err := e.DataAs(&data); err != nil {
		t.Fatalf("event %s: data: %v", e.ID(), err)
	}
	if data.Object == nil || data.Object.Metadata.Name != "lab1" || data.Object.Metadata.UID != ev.UID ||
		data.Object.Metadata.ResourceVersion != ev.Object.Metadata.ResourceVersion ||
		data.Object.Spec.DurationMinutes != ev.Object.Spec.DurationMinutes || data.Object.Status.Phase != ev.Object.Status.Phase {
		t.Errorf("event %s: data object %+v, want %+v", e.ID(), data.Object, ev.Object)
	}
	if data.Message != ev.Message {
		t.Errorf("event %s: message %q, want %q", e.ID(), data.Message, ev.Message)
	}
	if ev.Type == api.EventReconciled && data.Message != "container started" {
		t.Errorf("reconciled event message %q", data.Message)
	}
}

// TestFailingSinkDelaysAndLosesNothing: a sink answering 503, then 500,
// then 302 receives nothing and its bookmark stays; once it recovers it
// gets every event, in order.
func TestFailingSinkDelaysAndLosesNothing(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		sink := newSink(t)
		inst := installation(t, db)
		m := newMetrics()
		sink.status.Store(http.StatusServiceUnavailable)
		d, _ := start(t, db, eventsink.Config{Sinks: []string{sink.srv.URL}, Metrics: m})
		waitBookmark(t, db, eventsink.BookmarkName)
		initial, _ := bookmark(t, db, eventsink.BookmarkName)
		for i := range 5 {
			mustCreate(t, db, fmt.Sprintf("f-%d", i))
		}
		want := servertest.AllEvents(t, db)
		for _, code := range []int{http.StatusServiceUnavailable, http.StatusInternalServerError, http.StatusFound} {
			sink.status.Store(int32(code))
			n0, _ := m.failures(sink.srv.URL + "/")
			servertest.Eventually(t, fmt.Sprintf("failures with %d", code), 30*time.Second, func() bool {
				n, err := m.failures(sink.srv.URL + "/")
				return n >= n0+2 && err != nil && strings.Contains(err.Error(), fmt.Sprint(code))
			})
		}
		_, lastErr := m.failures(sink.srv.URL + "/")
		if !strings.Contains(lastErr.Error(), "redirects are not followed") {
			t.Errorf("302 error = %v", lastErr)
		}
		if got := sink.received(); len(got) != 0 {
			t.Fatalf("failing sink accepted %d events", len(got))
		}
		b, _ := bookmark(t, db, eventsink.BookmarkName)
		if b.Bookmark != initial.Bookmark || b.Lag != 5 {
			t.Fatalf("bookmark moved while nothing was delivered: %+v, started at %+v", b, initial)
		}
		st := d.Status()[0]
		if st.ConsecutiveFailures < 6 || st.LastError == "" || st.Backoff <= 0 || st.Delivered != 0 {
			t.Errorf("status while failing = %+v", st)
		}

		sink.status.Store(0)
		servertest.Eventually(t, "all events after recovery", 30*time.Second, func() bool { return len(sink.received()) >= len(want) })
		if got := ids(sink.received()); !slices.Equal(got, wantIDs(inst, want)) {
			t.Fatalf("after recovery got %v, want %v", got, wantIDs(inst, want))
		}
		servertest.Eventually(t, "bookmark to catch up", 30*time.Second, func() bool {
			b, _ := bookmark(t, db, eventsink.BookmarkName)
			return b.Lag == 0
		})
		if st := d.Status()[0]; st.ConsecutiveFailures != 0 || st.Backoff != 0 || st.Delivered != 5 {
			t.Errorf("status after recovery = %+v", st)
		}
	})
}

// TestBookmarkStopsBeforeUndeliveredEvent: when the third of five events
// is refused, the bookmark holds the second's position (saved before
// waiting), never more, and the rest follow in order once it is accepted.
func TestBookmarkStopsBeforeUndeliveredEvent(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		sink := newSink(t)
		inst := installation(t, db)
		var refuse sync.Mutex
		refusing := true
		h := func(e *event.Event, w http.ResponseWriter, r *http.Request) bool {
			refuse.Lock()
			defer refuse.Unlock()
			if refusing && e.Subject() == "default/p-2" {
				http.Error(w, "not now", http.StatusInternalServerError)
				return false
			}
			return true
		}
		sink.hook.Store(&h)
		start(t, db, eventsink.Config{Sinks: []string{sink.srv.URL}, BatchSize: 100})
		waitBookmark(t, db, eventsink.BookmarkName)
		for i := range 5 {
			mustCreate(t, db, fmt.Sprintf("p-%d", i))
		}
		want := servertest.AllEvents(t, db)
		servertest.Eventually(t, "two events delivered", 30*time.Second, func() bool { return len(sink.received()) == 2 })
		servertest.Eventually(t, "bookmark at the second event", 30*time.Second, func() bool {
			b, _ := bookmark(t, db, eventsink.BookmarkName)
			return b.Bookmark == want[1].Position
		})
		attempts := sink.attemptCount()
		servertest.Eventually(t, "more retries", 30*time.Second, func() bool { return sink.attemptCount() >= attempts+3 })
		if b, _ := bookmark(t, db, eventsink.BookmarkName); b.Bookmark != want[1].Position || len(sink.received()) != 2 {
			t.Fatalf("bookmark %d (want %d) with %d delivered while the third is refused", b.Bookmark, want[1].Position, len(sink.received()))
		}
		refuse.Lock()
		refusing = false
		refuse.Unlock()
		servertest.Eventually(t, "all five", 30*time.Second, func() bool { return len(sink.received()) == 5 })
		if got := ids(sink.received()); !slices.Equal(got, wantIDs(inst, want)) {
			t.Fatalf("got %v, want %v", got, wantIDs(inst, want))
		}
	})
}

// TestUnreachableSink: connections are refused for a while; then a server
// appears at the address and gets everything. Errors never show the URL's
// credentials.
func TestUnreachableSink(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		addr := reserveAddr(t)
		inst := installation(t, db)
		m := newMetrics()
		var logs servertest.LogBuffer
		log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		d, _ := start(t, db, eventsink.Config{Sinks: []string{"http://user:pa55word@" + addr + "/hook?token=s3cr3t-value"}, Metrics: m, Logger: log})
		waitBookmark(t, db, eventsink.BookmarkName)
		for i := range 3 {
			mustCreate(t, db, fmt.Sprintf("u-%d", i))
		}
		want := servertest.AllEvents(t, db)
		display := "http://" + addr + "/hook"
		servertest.Eventually(t, "failures to be reported", 30*time.Second, func() bool { n, _ := m.failures(display); return n >= 10 })
		_, err := m.failures(display)
		st := d.Status()[0]
		if !strings.Contains(logs.String(), "delivery failed") {
			t.Errorf("failures not logged: %s", logs.String())
		}
		for _, s := range []string{err.Error(), st.LastError, st.Sink, logs.String()} {
			if strings.Contains(s, "pa55word") || strings.Contains(s, "s3cr3t") {
				t.Errorf("credentials leaked: %q", s)
			}
		}
		if !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), display) {
			t.Errorf("error = %v, want a refused connection to %s", err, display)
		}
		if st.Sink != display {
			t.Errorf("status sink = %q, want %q", st.Sink, display)
		}
		if b, _ := bookmark(t, db, eventsink.BookmarkName); b.Lag != 3 {
			t.Fatalf("bookmark moved while unreachable: %+v", b)
		}

		sink := newSinkAt(t, addr)
		servertest.Eventually(t, "events after the sink came up", 30*time.Second, func() bool { return len(sink.received()) >= 3 })
		if got := ids(sink.received()); !slices.Equal(got, wantIDs(inst, want)) {
			t.Fatalf("got %v, want %v", got, wantIDs(inst, want))
		}
	})
}

// TestRedeliveryAfterCrashHasSameID: the dispatcher stops while the sink
// holds an event it has received but not yet answered (the answer is lost,
// as in a crash); the next dispatcher delivers that event again with the
// same id, and the bookmark never passed it.
func TestRedeliveryAfterCrashHasSameID(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		sink := newSink(t)
		inst := installation(t, db)
		cfg := eventsink.Config{Sinks: []string{sink.srv.URL}}

		var mu sync.Mutex
		var lost []event.Event
		_, stop := start(t, db, cfg)
		h := func(e *event.Event, w http.ResponseWriter, r *http.Request) bool {
			if e.Subject() != "default/r-1" {
				return true
			}
			mu.Lock()
			lost = append(lost, *e)
			mu.Unlock()
			go stop()            // the dispatcher "crashes" ...
			<-r.Context().Done() // ... before it reads the answer
			return false
		}
		sink.hook.Store(&h)
		waitBookmark(t, db, eventsink.BookmarkName)
		for i := range 3 {
			mustCreate(t, db, fmt.Sprintf("r-%d", i))
		}
		want := servertest.AllEvents(t, db)
		servertest.Eventually(t, "the crash", 30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(lost) == 1 })
		stop()
		if b, _ := bookmark(t, db, eventsink.BookmarkName); b.Bookmark != want[0].Position {
			t.Fatalf("bookmark after crash = %d, want %d (the first event's)", b.Bookmark, want[0].Position)
		}

		sink.hook.Store(nil)
		start(t, db, cfg) // the restarted (or next) leader
		servertest.Eventually(t, "redelivery", 30*time.Second, func() bool { return len(sink.received()) >= 3 })
		got := sink.received()
		if !slices.Equal(ids(got), wantIDs(inst, want)) {
			t.Fatalf("got %v, want %v", ids(got), wantIDs(inst, want))
		}
		if lost[0].ID() != got[1].ID() || lost[0].ID() != eventsink.EventID(inst, want[1].ID) {
			t.Fatalf("redelivered id %q, first delivery had %q", got[1].ID(), lost[0].ID())
		}
		if lost[0].Source() != got[1].Source() || !lost[0].Time().Equal(got[1].Time()) || string(lost[0].Data()) != string(got[1].Data()) {
			t.Errorf("redelivery differs: %v vs %v", lost[0], got[1])
		}
	})
}

// TestTwoSinksOneDown: each sink has its own bookmark; the healthy one gets
// everything while the other is down, and the aggregate bookmark waits for
// the slower.
func TestTwoSinksOneDown(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		up, down := newSink(t), newSink(t)
		inst := installation(t, db)
		down.status.Store(http.StatusServiceUnavailable)
		d, _ := start(t, db, eventsink.Config{Sinks: []string{up.srv.URL + "/a", down.srv.URL + "/b"}})
		names := d.Bookmarks()
		wantNames := []string{eventsink.BookmarkName,
			eventsink.BookmarkName + ":" + strings.TrimPrefix(up.srv.URL, "http://") + "/a",
			eventsink.BookmarkName + ":" + strings.TrimPrefix(down.srv.URL, "http://") + "/b"}
		if !slices.Equal(names, wantNames) {
			t.Fatalf("bookmarks %v, want %v", names, wantNames)
		}
		for _, n := range names {
			waitBookmark(t, db, n)
		}
		for i := range 4 {
			mustCreate(t, db, fmt.Sprintf("t-%d", i))
		}
		want := servertest.AllEvents(t, db)
		last := want[len(want)-1].Position
		servertest.Eventually(t, "the healthy sink to get everything", 30*time.Second, func() bool { return len(up.received()) == 4 })
		if got := ids(up.received()); !slices.Equal(got, wantIDs(inst, want)) {
			t.Fatalf("healthy sink got %v, want %v", got, wantIDs(inst, want))
		}
		servertest.Eventually(t, "healthy bookmark to advance", 30*time.Second, func() bool {
			b, _ := bookmark(t, db, names[1])
			return b.Bookmark == last && b.Lag == 0
		})
		bDown, _ := bookmark(t, db, names[2])
		agg, _ := bookmark(t, db, names[0])
		if bDown.Lag != 4 || agg.Bookmark != bDown.Bookmark || len(down.received()) != 0 {
			t.Fatalf("down sink bookmark %+v, aggregate %+v, received %d", bDown, agg, len(down.received()))
		}

		down.status.Store(0)
		servertest.Eventually(t, "the recovered sink to get everything", 30*time.Second, func() bool { return len(down.received()) == 4 })
		if got := ids(down.received()); !slices.Equal(got, wantIDs(inst, want)) {
			t.Fatalf("recovered sink got %v, want %v", got, wantIDs(inst, want))
		}
		servertest.Eventually(t, "aggregate bookmark to catch up", 30*time.Second, func() bool {
			b, _ := bookmark(t, db, names[0])
			return b.Bookmark == last
		})
	})
}

// TestAddingASecondSinkKeepsTheFirstsPlace: events written while labd was
// down reach the sink that was alone before, although its bookmark is now
// named after it; the new sink starts from the same place.
func TestAddingASecondSinkKeepsTheFirstsPlace(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		a, b := newSink(t), newSink(t)
		inst := installation(t, db)
		_, stop := start(t, db, eventsink.Config{Sinks: []string{a.srv.URL}})
		waitBookmark(t, db, eventsink.BookmarkName)
		mustCreate(t, db, "s-0")
		servertest.Eventually(t, "first event", 30*time.Second, func() bool { return len(a.received()) == 1 })
		servertest.Eventually(t, "bookmark", 30*time.Second, func() bool { bm, _ := bookmark(t, db, eventsink.BookmarkName); return bm.Lag == 0 })
		stop()
		n := len(servertest.AllEvents(t, db))
		mustCreate(t, db, "s-1") // while no dispatcher runs
		mustCreate(t, db, "s-2")
		want := servertest.AllEvents(t, db)[n:]
		start(t, db, eventsink.Config{Sinks: []string{a.srv.URL, b.srv.URL}})
		servertest.Eventually(t, "both sinks", 30*time.Second, func() bool { return len(a.received()) == 3 && len(b.received()) == 2 })
		if got := ids(a.received()[1:]); !slices.Equal(got, wantIDs(inst, want)) {
			t.Errorf("first sink got %v, want %v", got, wantIDs(inst, want))
		}
		if got := ids(b.received()); !slices.Equal(got, wantIDs(inst, want)) {
			t.Errorf("new sink got %v, want %v", got, wantIDs(inst, want))
		}
	})
}

// TestConcurrentDispatchersLoseNothing: two dispatchers on the same
// bookmark (a leader change not yet noticed) deliver every event, duplicates
// carry the same id, and the bookmark ends at the last event.
func TestConcurrentDispatchersLoseNothing(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.Postgres)
	sink := newSink(t)
	inst := installation(t, db)
	cfg := eventsink.Config{Sinks: []string{sink.srv.URL}, BatchSize: 3}
	start(t, db, cfg)
	start(t, db, cfg)
	waitBookmark(t, db, eventsink.BookmarkName)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 10 {
				if _, err := db.CreateLab(context.Background(), newLab(fmt.Sprintf("c-%d-%d", w, i))); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	want := servertest.AllEvents(t, db)
	servertest.Eventually(t, "every event at least once", 30*time.Second, func() bool { return len(dedup(sink.received())) >= len(want) })
	got := dedup(sink.received())
	if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(wantIDs(inst, want)))) {
		t.Fatalf("distinct ids %v, want %v", got, wantIDs(inst, want))
	}
	byID := map[string]event.Event{}
	for _, e := range sink.received() {
		if prev, ok := byID[e.ID()]; ok && (prev.Subject() != e.Subject() || prev.Type() != e.Type()) {
			t.Errorf("id %s names two different events: %v and %v", e.ID(), prev, e)
		}
		byID[e.ID()] = e
	}
	servertest.Eventually(t, "bookmark at the last event", 30*time.Second, func() bool {
		b, _ := bookmark(t, db, eventsink.BookmarkName)
		return b.Bookmark == want[len(want)-1].Position && b.Lag == 0
	})
}

// TestNoTransactionHeldDuringDelivery: while a request hangs at the sink,
// other outbox readers still see new events, which they could not if the
// dispatcher kept a transaction open (PostgreSQL read horizon).
func TestNoTransactionHeldDuringDelivery(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.Postgres)
	sink := newSink(t)
	release := make(chan struct{})
	var once sync.Once
	hanging := make(chan struct{})
	h := func(e *event.Event, w http.ResponseWriter, r *http.Request) bool {
		once.Do(func() { close(hanging) })
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return true
	}
	sink.hook.Store(&h)
	start(t, db, eventsink.Config{Sinks: []string{sink.srv.URL}, RequestTimeout: time.Minute})
	waitBookmark(t, db, eventsink.BookmarkName)
	mustCreate(t, db, "h-0")
	select {
	case <-hanging:
	case <-time.After(30 * time.Second):
		t.Fatal("the sink never got the first event")
	}
	defer close(release)
	n := len(servertest.AllEvents(t, db))
	mustCreate(t, db, "h-1")
	servertest.Eventually(t, "the new event to be readable while delivery hangs", 30*time.Second, func() bool { return len(servertest.AllEvents(t, db)) == n+1 })
}

// TestRemovedSinkBookmarkDropped: a sink taken out of the configuration
// must not leave a bookmark that holds back outbox pruning for ever.
func TestRemovedSinkBookmarkDropped(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.SQLite)
	ctx := context.Background()
	err := db.InTx(ctx, func(tx *store.Tx) error {
		for _, name := range []string{"cloudevents:old.example.edu/hook", "cloudevents", "controller"} {
			if _, err := tx.LockBookmark(ctx, name, 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := eventsink.New(db, eventsink.Config{})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	d.Run(runCtx)
	bms, err := db.Bookmarks(ctx)
	if err != nil || len(bms) != 1 || bms[0].Name != "controller" {
		t.Fatalf("bookmarks after running without sinks: %+v (%v)", bms, err)
	}
}

// TestBookmarkBelowFloorSkipsToTheFloor: a sink's bookmark found below the
// outbox floor (restored or moved by hand: the pruner never passes one)
// cannot be served, since the events in between are gone. The dispatcher
// says so in an error log with both positions, continues from the floor and
// delivers everything after it.
func TestBookmarkBelowFloorSkipsToTheFloor(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		sink := newSink(t)
		inst := installation(t, db)
		_, stop := start(t, db, eventsink.Config{Sinks: []string{sink.srv.URL}})
		waitBookmark(t, db, eventsink.BookmarkName)
		mustCreate(t, db, "x-0")
		servertest.Eventually(t, "the first event", 30*time.Second, func() bool { return len(sink.received()) == 1 })
		servertest.Eventually(t, "the bookmark", 30*time.Second, func() bool { b, _ := bookmark(t, db, eventsink.BookmarkName); return b.Lag == 0 })
		stop()
		before, _ := bookmark(t, db, eventsink.BookmarkName)

		// While no dispatcher runs, two changes are written and pruned
		// past the bookmark.
		mustCreate(t, db, "x-1")
		mustCreate(t, db, "x-2")
		servertest.AllEvents(t, db)
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			return storetest.PruneAll(ctx, tx)
		}); err != nil {
			t.Fatal(err)
		}
		floor, _, err := db.EventBounds(ctx)
		if err != nil || floor <= before.Bookmark {
			t.Fatalf("floor %d (%v), bookmark %d", floor, err, before.Bookmark)
		}
		mustCreate(t, db, "x-3")
		want := servertest.AllEvents(t, db) // x-3's: the pruned ones are gone

		var logs servertest.LogBuffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		start(t, db, eventsink.Config{Sinks: []string{sink.srv.URL}, Logger: log})
		servertest.Eventually(t, "the event after the floor", 30*time.Second, func() bool { return len(sink.received()) >= 2 })
		if got := ids(sink.received()[1:]); !slices.Equal(got, wantIDs(inst, want)) {
			t.Fatalf("after the floor got %v, want %v", got, wantIDs(inst, want))
		}
		line := fmt.Sprintf("position=%d floor=%d", before.Bookmark, floor)
		if out := logs.String(); !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "below the outbox floor") || !strings.Contains(out, line) {
			t.Fatalf("no error log naming %s:\n%s", line, out)
		}
		servertest.Eventually(t, "the bookmark at the last event", 30*time.Second, func() bool {
			b, _ := bookmark(t, db, eventsink.BookmarkName)
			return b.Bookmark == want[len(want)-1].Position && b.Lag == 0
		})
	})
}
