package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/wait"
	"github.com/labrm/terraform-provider-lab/server/outbox"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/store/storetest"
)

func eventIDs(evs []store.Event) []int64 {
	out := make([]int64, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

// pruneAll deletes every event and raises the floor past them, as the
// pruner does once retention has passed, and returns the floor. Bookmarks
// are left where they are: a restored or hand-moved bookmark.
func pruneAll(t *testing.T, db *store.DB) int64 {
	t.Helper()
	ctx := context.Background()
	servertest.AllEvents(t, db)
	err := db.InTx(ctx, func(tx *store.Tx) error {
		return storetest.PruneAll(ctx, tx)
	})
	if err != nil {
		t.Fatal(err)
	}
	floor, _, err := db.EventBounds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return floor
}

func bookmarkOf(t *testing.T, db *store.DB, name string) (int64, bool) {
	t.Helper()
	bms, err := db.Bookmarks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bms {
		if b.Name == name {
			return b.Bookmark, true
		}
	}
	return 0, false
}

// recorder collects what a follower's handler saw, in order.
type recorder struct {
	mu  sync.Mutex
	ids []int64
}

func (r *recorder) add(evs ...store.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range evs {
		r.ids = append(r.ids, ev.ID)
	}
}

func (r *recorder) get() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ids)
}

// runFor runs f for about d and stops it as a shutdown does (ctx ends at
// a random moment, mid-batch included); it returns what Run returned.
func runFor(t *testing.T, f *outbox.Follower, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	select {
	case err := <-done:
		cancel()
		return err
	case <-time.After(d):
	}
	cancel()
	select {
	case err := <-done:
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("follower did not stop within 15s")
		return nil
	}
}

// writeSlowly creates n labs, a few milliseconds apart, in the background.
func writeSlowly(t *testing.T, db *store.DB, prefix string, n int) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			if _, err := db.CreateLab(context.Background(), newLab(fmt.Sprintf("%s-%d", prefix, i))); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Duration(1+rand.IntN(3)) * time.Millisecond)
		}
	}()
	return done
}

// TestDelivererRestartsLoseNothing stops and restarts a follower that
// bookmarks after delivery, at random moments, while events arrive: every
// event is delivered once, in outbox order. (What was delivered is saved
// when a follower stops; only a crash delivers again, see
// TestDelivererCrashLosesNothing.)
func TestDelivererRestartsLoseNothing(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		const events = 60
		var got recorder
		deliver := func(ctx context.Context, ev store.Event, checkpoint func()) error {
			// Stopped before the delivery took place: not delivered.
			if err := wait.Sleep(ctx, time.Duration(rand.IntN(3))*time.Millisecond); err != nil {
				return err
			}
			got.add(ev)
			if rand.IntN(4) == 0 {
				checkpoint() // as before a retry's backoff
			}
			return nil
		}
		cfg := outbox.Config{Name: "sink", BatchSize: 4, PollInterval: 20 * time.Millisecond}
		written := writeSlowly(t, db, "d", events)
		for range 10 {
			if err := runFor(t, outbox.NewDeliverer(db, cfg, deliver), time.Duration(10+rand.IntN(50))*time.Millisecond); err != nil {
				t.Fatalf("Run: %v", err)
			}
		}
		<-written
		last := outbox.NewDeliverer(db, cfg, deliver)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go last.Run(ctx)
		want := eventIDs(servertest.AllEvents(t, db))
		servertest.Eventually(t, "every event delivered", 30*time.Second, func() bool { return len(got.get()) >= len(want) })
		if ids := got.get(); !slices.Equal(ids, want) {
			t.Fatalf("delivered %v,\nwant each event once in order: %v", ids, want)
		}
		all := servertest.AllEvents(t, db)
		servertest.Eventually(t, "the bookmark at the last event", 30*time.Second, func() bool {
			b, _ := bookmarkOf(t, db, "sink")
			return b == all[len(all)-1].Position
		})
	})
}

// crashDelivererChild delivers each event by inserting it into the
// delivered table in a transaction of its own (an effect outside the
// follower's transactions, as an HTTP POST is), until killed.
func crashDelivererChild() {
	db, err := store.Open(context.Background(), store.Config{URL: os.Getenv(envURL)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	f := outbox.NewDeliverer(db, outbox.Config{Name: "crashy", BatchSize: 5, PollInterval: 20 * time.Millisecond},
		func(ctx context.Context, ev store.Event, checkpoint func()) error {
			err := db.InTx(ctx, func(tx *store.Tx) error {
				return storetest.Exec(ctx, tx, "INSERT INTO delivered (event_id) VALUES (?)", ev.ID)
			})
			time.Sleep(time.Duration(rand.IntN(4)) * time.Millisecond)
			return err
		})
	f.Run(context.Background())
}

// TestDelivererCrashLosesNothing kills a follower that bookmarks after
// delivery over and over while events arrive: every event is delivered,
// and a crash delivers again at most the batch it had not saved.
func TestDelivererCrashLosesNothing(t *testing.T) {
	t.Parallel()
	const events, batch = 120, 5
	db, kills := crashLoop(t, "deliver", "delivered", events)
	var total, distinct int64
	deadline := time.Now().Add(60 * time.Second)
	for distinct < events {
		if time.Now().After(deadline) {
			t.Fatalf("after %d kills only %d of %d events delivered", kills, distinct, events)
		}
		time.Sleep(20 * time.Millisecond)
		total, distinct = countRows(t, db, "delivered")
	}
	if again := total - distinct; again > int64(kills*batch) {
		t.Fatalf("%d deliveries repeated across %d kills: more than the unsaved batch (%d) per crash", again, kills, batch)
	}
	var missing int64
	ctx := context.Background()
	db.InTx(ctx, func(tx *store.Tx) error {
		return storetest.Raw(ctx, tx, &missing, "SELECT COUNT(*) FROM outbox o WHERE NOT EXISTS (SELECT 1 FROM delivered d WHERE d.event_id = o.id)")
	})
	if missing != 0 {
		t.Fatalf("%d events never delivered", missing)
	}
	t.Logf("%d events delivered, %d of them twice, across %d kills", events, total-distinct, kills)
}

// TestReaderRestartsLoseNothing follows without a bookmark: the caller
// holds the position. Stopped at random moments (mid-batch included), or
// ended by its handler's error, and restarted from Position, it hands every
// event over once, in order.
func TestReaderRestartsLoseNothing(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		const events = 60
		var got recorder
		var flaky atomic.Bool
		flaky.Store(true)
		errGone := errors.New("client gone")
		handle := func(ctx context.Context, evs []store.Event) error {
			// A batch is taken whole or not at all.
			if err := wait.Sleep(ctx, time.Duration(rand.IntN(3))*time.Millisecond); err != nil {
				return err
			}
			if flaky.Load() && rand.IntN(5) == 0 {
				return errGone
			}
			got.add(evs...)
			return nil
		}
		cfg := outbox.Config{BatchSize: 3, PollInterval: 20 * time.Millisecond, Notify: db}
		written := writeSlowly(t, db, "r", events)
		var pos int64 // from the start: the floor of a new outbox
		for range 12 {
			r := outbox.NewReader(db, pos, cfg, handle)
			if err := runFor(t, r, time.Duration(10+rand.IntN(50))*time.Millisecond); err != nil && !errors.Is(err, errGone) {
				t.Fatalf("Run: %v", err)
			}
			pos = r.Position()
		}
		<-written
		flaky.Store(false)
		r := outbox.NewReader(db, pos, cfg, handle)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go r.Run(ctx)
		all := servertest.AllEvents(t, db)
		want := eventIDs(all)
		servertest.Eventually(t, "every event handed over", 30*time.Second, func() bool { return len(got.get()) >= len(want) })
		if ids := got.get(); !slices.Equal(ids, want) {
			t.Fatalf("handed over %v,\nwant each event once in order: %v", ids, want)
		}
		servertest.Eventually(t, "the position at the last event", 30*time.Second, func() bool { return r.Position() == all[len(all)-1].Position })
	})
}

// TestBelowFloor: each policy, with its position below the retention
// floor. Without OnExpired, Run stops with an *ExpiredError and the
// position stays; with it, OnExpired runs once and the follower continues
// from the floor with the events written since.
func TestBelowFloor(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		createN(t, db, "old", 3)
		start := servertest.AllEvents(t, db)[0].Position
		err := db.InTx(ctx, func(tx *store.Tx) error {
			for _, name := range []string{"tx", "deliver"} {
				if _, err := tx.LockBookmark(ctx, name, start); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		floor := pruneAll(t, db)
		createN(t, db, "new", 2)
		fresh := eventIDs(servertest.AllEvents(t, db))

		if err := outbox.CheckPosition(ctx, db, floor); err != nil {
			t.Fatalf("CheckPosition at the floor: %v", err)
		}
		checkExpired(t, outbox.CheckPosition(ctx, db, start), start, floor)

		type policy struct {
			name     string
			follower func(cfg outbox.Config, got *recorder) *outbox.Follower
			position func() int64 // where the follower is, as stored
		}
		var reader *outbox.Follower
		policies := []policy{
			{"tx", func(cfg outbox.Config, got *recorder) *outbox.Follower {
				return outbox.NewWatcher(db, cfg, func(_ context.Context, _ *store.Tx, evs []store.Event) error { got.add(evs...); return nil })
			}, func() int64 { b, _ := bookmarkOf(t, db, "tx"); return b }},
			{"deliver", func(cfg outbox.Config, got *recorder) *outbox.Follower {
				return outbox.NewDeliverer(db, cfg, func(_ context.Context, ev store.Event, _ func()) error { got.add(ev); return nil })
			}, func() int64 { b, _ := bookmarkOf(t, db, "deliver"); return b }},
			{"", func(cfg outbox.Config, got *recorder) *outbox.Follower {
				reader = outbox.NewReader(db, start, cfg, func(_ context.Context, evs []store.Event) error { got.add(evs...); return nil })
				return reader
			}, func() int64 { return reader.Position() }},
		}
		for _, p := range policies {
			var got recorder
			cfg := outbox.Config{Name: p.name, PollInterval: 20 * time.Millisecond}
			err := runFor(t, p.follower(cfg, &got), 10*time.Second)
			checkExpired(t, err, start, floor)
			if pos := p.position(); pos != start || len(got.get()) != 0 {
				t.Fatalf("%q: stopped below the floor at %d (want %d), having handed over %v", p.name, pos, start, got.get())
			}

			var expired []*outbox.ExpiredError
			cfg.OnExpired = func(_ context.Context, e *outbox.ExpiredError) error {
				expired = append(expired, e)
				return nil
			}
			f := p.follower(cfg, &got)
			rctx, cancel := context.WithCancel(ctx)
			go f.Run(rctx)
			servertest.Eventually(t, fmt.Sprintf("%q to continue from the floor", p.name), 30*time.Second, func() bool { return p.position() > floor })
			cancel()
			if ids := got.get(); !slices.Equal(ids, fresh) {
				t.Fatalf("%q handed over %v after the floor, want %v", p.name, ids, fresh)
			}
			if len(expired) != 1 || expired[0].Position != start || expired[0].Floor != floor {
				t.Fatalf("%q: OnExpired saw %v, want once at %d below %d", p.name, expired, start, floor)
			}
		}
	})
}

func checkExpired(t *testing.T, err error, pos, floor int64) {
	t.Helper()
	var e *outbox.ExpiredError
	if !errors.As(err, &e) || !errors.Is(err, outbox.ErrExpired) || e.Position != pos || e.Floor != floor {
		t.Fatalf("error %v, want an *ExpiredError at %d below %d", err, pos, floor)
	}
}

// countingSource counts the reads of a real store.
type countingSource struct {
	*store.DB
	reads atomic.Int64
}

func (s *countingSource) ReadEvents(ctx context.Context, after int64, limit int) ([]store.Event, error) {
	s.reads.Add(1)
	return s.DB.ReadEvents(ctx, after, limit)
}

// TestHeartbeat: while a follower waits, OnHeartbeat gets its position
// without the outbox being read; its error ends Run.
func TestHeartbeat(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.SQLite)
	createN(t, db, "h", 2)
	last := servertest.AllEvents(t, db)[1].Position
	src := &countingSource{DB: db}
	var beats []int64
	errEnough := errors.New("enough")
	r := outbox.NewReader(src, 0, outbox.Config{
		PollInterval: time.Hour,
		Heartbeat:    5 * time.Millisecond,
		OnHeartbeat: func(_ context.Context, pos int64) error {
			beats = append(beats, pos)
			if len(beats) == 5 {
				return errEnough
			}
			return nil
		},
	}, func(context.Context, []store.Event) error { return nil })
	if err := runFor(t, r, 10*time.Second); !errors.Is(err, errEnough) {
		t.Fatalf("Run returned %v, want the heartbeat's error", err)
	}
	if !slices.Equal(beats, []int64{last, last, last, last, last}) {
		t.Fatalf("heartbeats carried %v, want the position %d each time", beats, last)
	}
	// One read handed both events over, one found nothing more; the
	// heartbeats read nothing.
	if n := src.reads.Load(); n != 2 {
		t.Fatalf("%d reads, want 2", n)
	}
}
