package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/httpapi"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// watchEvent is one decoded line of a watch stream.
type watchEvent struct {
	Type   string                 `json:"type"`
	Object api.LabInstanceRequest `json:"object"`
}

type watcher struct {
	t      *testing.T
	resp   *http.Response
	events chan watchEvent
	done   chan error // the stream's end: nil on EOF
	cancel context.CancelFunc
}

// watch opens a watch stream; it is closed when the test ends.
func (e *env) watch(query string) *watcher {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", e.url+"/api/lab-instances/?watch=true"+query, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		e.t.Fatalf("watch: %v", err)
	}
	w := &watcher{t: e.t, resp: resp, events: make(chan watchEvent, 100), done: make(chan error, 1), cancel: cancel}
	e.t.Cleanup(func() {
		cancel()
		resp.Body.Close()
	})
	if resp.StatusCode != http.StatusOK {
		return w
	}
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var ev watchEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				w.done <- err
				return
			}
			w.events <- ev
		}
		w.done <- sc.Err()
	}()
	return w
}

// next returns the next event that is not a BOOKMARK.
func (w *watcher) next() watchEvent {
	w.t.Helper()
	for {
		ev := w.nextAny()
		if ev.Type != api.WatchBookmark {
			return ev
		}
	}
}

func (w *watcher) nextAny() watchEvent {
	w.t.Helper()
	select {
	case ev := <-w.events:
		return ev
	case err := <-w.done:
		w.t.Fatalf("watch ended while an event was expected: %v", err)
	case <-time.After(15 * time.Second):
		w.t.Fatal("no watch event within 15s")
	}
	return watchEvent{}
}

func (w *watcher) want(typ, name string) watchEvent {
	w.t.Helper()
	ev := w.next()
	if ev.Type != typ || ev.Object.Metadata.Name != name {
		w.t.Fatalf("event %s %s, want %s %s", ev.Type, ev.Object.Metadata.Name, typ, name)
	}
	return ev
}

// ended waits for the stream to end by itself.
func (w *watcher) ended(within time.Duration) {
	w.t.Helper()
	deadline := time.After(within)
	for {
		select {
		case <-w.events:
		case <-w.done:
			return
		case <-deadline:
			w.t.Fatalf("watch still open after %s", within)
		}
	}
}

func TestWatchFromList(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *env) {
		a := e.create("watch-a")
		e.create("watch-other", func(m map[string]any) { m["student_email"] = "other@university.edu" })
		w := e.watch("&student_email=student@university.edu")
		if ct := w.resp.Header.Get("Content-Type"); w.resp.StatusCode != 200 || ct != "application/x-ndjson" {
			t.Fatalf("watch answered %d %q", w.resp.StatusCode, ct)
		}
		// The list part: ADDED for the matching lab, then a BOOKMARK.
		added := w.nextAny()
		if added.Type != api.WatchAdded || added.Object.Metadata.Name != "watch-a" || added.Object.Metadata.ResourceVersion != a.Metadata.ResourceVersion {
			t.Fatalf("first event %s %s", added.Type, added.Object.Metadata.Name)
		}
		if bm := w.nextAny(); bm.Type != api.WatchBookmark || bm.Object.Metadata.ResourceVersion == 0 || bm.Object.Kind != api.Kind {
			t.Fatalf("after the list: %+v", bm)
		}
		// Changes after the list, filtered.
		e.create("watch-b")
		e.create("watch-other-2", func(m map[string]any) { m["student_email"] = "other@university.edu" })
		e.do("PATCH", "/api/lab-instances/watch-a", `{"spec":{"duration_minutes":15}}`).want(t, http.StatusOK)
		e.do("DELETE", "/api/lab-instances/watch-b", "").want(t, http.StatusOK)
		w.want(api.WatchAdded, "watch-b")
		if ev := w.want(api.WatchModified, "watch-a"); ev.Object.Spec.DurationMinutes != 15 || ev.Object.Metadata.Generation != 2 {
			t.Fatalf("MODIFIED object %+v", ev.Object)
		}
		w.want(api.WatchDeleted, "watch-b")
	})
}

func TestWatchFromVersion(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *env) {
		e.create("before")
		mark := e.create("mark")
		e.do("PATCH", "/api/lab-instances/before", `{"metadata":{"labels":{"x":"1"}}}`).want(t, http.StatusOK)
		e.create("after")

		// Everything after mark's version, nothing before; application/json
		// is answered as a watch stream too.
		w := e.watch("&resource_version=" + itoa(mark.Metadata.ResourceVersion))
		w.want(api.WatchModified, "before")
		w.want(api.WatchAdded, "after")
		e.do("DELETE", "/api/lab-instances/mark", "").want(t, http.StatusOK)
		w.want(api.WatchDeleted, "mark")

		// A name filter.
		byName := e.watch("&name=after&resource_version=" + itoa(mark.Metadata.ResourceVersion))
		byName.want(api.WatchAdded, "after")
		e.do("PATCH", "/api/lab-instances/before", `{"metadata":{"labels":{"x":"2"}}}`).want(t, http.StatusOK)
		e.do("PATCH", "/api/lab-instances/after", `{"metadata":{"labels":{"x":"2"}}}`).want(t, http.StatusOK)
		byName.want(api.WatchModified, "after")

		r := e.do("GET", "/api/lab-instances/?watch=true&resource_version=abc", "")
		wantField(t, r.problem(t, http.StatusBadRequest, api.EBADREQUEST), "resource_version")
		e.do("GET", "/api/lab-instances/?watch=true", "", "Accept", "application/xml").problem(t, http.StatusNotAcceptable, api.ENOTACCEPTABLE)
	})
}

// TestWatchGone prunes the outbox and checks that a watch from before the
// floor is told to relist.
func TestWatchGone(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *env) {
		old := e.create("old")
		e.do("PATCH", "/api/lab-instances/old", `{"spec":{"duration_minutes":10}}`).want(t, http.StatusOK)
		newer := e.create("newer")
		// Through newer: a floor between the PATCH and newer (pruning stops
		// below transactions still open in the cluster) would have the
		// watch from the floor see newer too.
		floor := pruneThrough(t, e.db, newer.Metadata.ResourceVersion)
		p := e.do("GET", "/api/lab-instances/?watch=true&resource_version="+itoa(old.Metadata.ResourceVersion), "").problem(t, http.StatusGone, api.EGONE)
		if p.Detail == "" {
			t.Fatal("410 without detail")
		}
		// From the floor itself, and from a fresh list, it works.
		w := e.watch("&resource_version=" + itoa(floor))
		e.create("latest")
		w.want(api.WatchAdded, "latest")
		w2 := e.watch("")
		seen := map[string]bool{}
		for range 3 {
			ev := w2.next()
			if ev.Type != api.WatchAdded {
				t.Fatalf("initial event %s", ev.Type)
			}
			seen[ev.Object.Metadata.Name] = true
		}
		if !seen["old"] || !seen["newer"] || !seen["latest"] {
			t.Fatalf("initial list %v", seen)
		}
	})
}

// TestWatchEnds checks the ways a stream ends: timeout_seconds, server
// Close, and retention overtaking an open stream.
func TestWatchEnds(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, func(c *httpapi.Config) { c.BookmarkInterval = 100 * time.Millisecond })
		start := time.Now()
		w := e.watch("&timeout_seconds=1")
		// Bookmarks flow while idle.
		if bm := w.nextAny(); bm.Type != api.WatchBookmark {
			t.Fatalf("want BOOKMARK, got %s", bm.Type)
		}
		if bm := w.nextAny(); bm.Type != api.WatchBookmark {
			t.Fatalf("want a periodic BOOKMARK, got %s", bm.Type)
		}
		w.ended(10 * time.Second)
		if d := time.Since(start); d < 900*time.Millisecond {
			t.Fatalf("timeout_seconds=1 ended after %s", d)
		}

		// Close ends open streams.
		w = e.watch("")
		w.nextAny()
		e.api.Close()
		w.ended(10 * time.Second)
	})
}

func TestWatchOverPolling(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, func(c *httpapi.Config) { c.Notify = nil; c.PollInterval = 20 * time.Millisecond })
		w := e.watch("")
		e.create("polled")
		w.want(api.WatchAdded, "polled")
	})
}

// manualNotify wakes watch streams when the test says so.
type manualNotify struct{ ch chan struct{} }

func (n manualNotify) Subscribe() (<-chan struct{}, func()) { return n.ch, func() {} }

// TestWatchOvertaken checks that a stream whose unread events were pruned
// ends instead of silently skipping them, and that the client's re-watch
// from its last position gets 410.
func TestWatchOvertaken(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		wake := manualNotify{ch: make(chan struct{}, 1)}
		e := newEnv(t, db, func(c *httpapi.Config) {
			c.Notify = wake
			c.FallbackPollInterval = time.Hour
			c.BookmarkInterval = 20 * time.Millisecond
		})
		first := e.create("first")
		w := e.watch("")
		w.want(api.WatchAdded, "first")
		// The stream must be asleep, waiting for a wake-up, before the
		// change it is to miss is written. On PostgreSQL the list's
		// position may be below first's (another transaction in the
		// cluster was open), and a stream that has not read up to the end
		// looks again by itself. Periodic BOOKMARKs are sent only while it
		// waits: one at first's position or later says it has read
		// everything and sleeps until the wake-up (the poll is an hour).
		if bm := w.nextAny(); bm.Type != api.WatchBookmark {
			t.Fatalf("want the BOOKMARK that ends the list, got %s", bm.Type)
		}
		var bm watchEvent
		for bm.Object.Metadata.ResourceVersion < first.Metadata.ResourceVersion {
			if bm = w.nextAny(); bm.Type != api.WatchBookmark {
				t.Fatalf("want a periodic BOOKMARK, got %s %s", bm.Type, bm.Object.Metadata.Name)
			}
		}
		// A change is written and pruned before the stream reads it; a
		// later one is kept. Sending the kept one would tell the client it
		// can resume past the pruned one.
		unseen := e.create("unseen")
		time.Sleep(5 * time.Millisecond)
		cutoff := time.Now()
		time.Sleep(5 * time.Millisecond)
		kept := e.create("kept")
		if floor := pruneBefore(t, db, unseen.Metadata.ResourceVersion, cutoff); floor >= kept.Metadata.ResourceVersion {
			t.Fatalf("pruned through %d, past the kept change at %d", floor, kept.Metadata.ResourceVersion)
		}
		wake.ch <- struct{}{}
		timeout := time.After(10 * time.Second)
	stream:
		for {
			select {
			case ev := <-w.events:
				if ev.Type != api.WatchBookmark {
					t.Fatalf("overtaken stream sent %s %s", ev.Type, ev.Object.Metadata.Name)
				}
				if ev.Object.Metadata.ResourceVersion >= unseen.Metadata.ResourceVersion {
					t.Fatalf("overtaken stream sent a BOOKMARK at %d, past the pruned change at %d", ev.Object.Metadata.ResourceVersion, unseen.Metadata.ResourceVersion)
				}
			case <-w.done:
				break stream
			case <-timeout:
				t.Fatal("overtaken stream still open")
			}
		}
		e.do("GET", "/api/lab-instances/?watch=true&resource_version="+itoa(bm.Object.Metadata.ResourceVersion), "").problem(t, http.StatusGone, api.EGONE)
	})
}

// pruneThrough prunes the outbox until its floor reaches pos and returns
// the floor. On PostgreSQL pruning stops below transactions still running
// anywhere in the cluster (other tests'), so it may take a few rounds.
func pruneThrough(t *testing.T, db *store.DB, pos int64) int64 {
	t.Helper()
	return pruneBefore(t, db, pos, time.Now().Add(time.Hour))
}

// pruneBefore is pruneThrough for events written before cutoff only.
func pruneBefore(t *testing.T, db *store.DB, pos int64, cutoff time.Time) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if _, err := db.PruneEvents(ctx, cutoff); err != nil {
			t.Fatalf("prune: %v", err)
		}
		floor, _, err := db.EventBounds(ctx)
		if err != nil {
			t.Fatalf("event bounds: %v", err)
		}
		if floor >= pos {
			return floor
		}
		select {
		case <-ctx.Done():
			t.Fatalf("outbox floor %d did not reach %d", floor, pos)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
