package outbox_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/outbox"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/store/storetest"
)

func newLab(name string) *api.LabInstanceRequest {
	return &api.LabInstanceRequest{Metadata: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.Spec{LabTemplate: "busybox", StudentEmail: "s@u.edu", DurationMinutes: 5}}
}

func createN(t *testing.T, db *store.DB, prefix string, n int) {
	t.Helper()
	for i := range n {
		if _, err := db.CreateLab(context.Background(), newLab(fmt.Sprintf("%s-%d", prefix, i))); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWatchersHaveIndependentBookmarks runs two watchers over the same
// events; each sees all of them, and each keeps its own position.
func TestWatchersHaveIndependentBookmarks(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var a, b atomic.Int64
		count := func(n *atomic.Int64) outbox.Handler {
			return func(ctx context.Context, tx *store.Tx, evs []store.Event) error { n.Add(int64(len(evs))); return nil }
		}
		wa := outbox.NewWatcher(db, outbox.Config{Name: "a", PollInterval: time.Hour}, count(&a))
		go wa.Run(ctx)
		createN(t, db, "x", 5)
		servertest.Eventually(t, "watcher a to see 5 events", 30*time.Second, func() bool { return a.Load() == 5 })
		// b starts later from the floor and still sees everything.
		wb := outbox.NewWatcher(db, outbox.Config{Name: "b", PollInterval: time.Hour}, count(&b))
		go wb.Run(ctx)
		servertest.Eventually(t, "watcher b to see 5 events", 30*time.Second, func() bool { return b.Load() == 5 })
		createN(t, db, "y", 3)
		// Wake-ups (not the hour-long poll) deliver these.
		servertest.Eventually(t, "both to see 8", 30*time.Second, func() bool { return a.Load() == 8 && b.Load() == 8 })
		servertest.Eventually(t, "both bookmarks to catch up", 30*time.Second, func() bool {
			bms, err := db.Bookmarks(ctx)
			return err == nil && len(bms) == 2 && bms[0].Lag == 0 && bms[1].Lag == 0 && bms[0].Bookmark == bms[1].Bookmark
		})
		// A watcher that starts at the end sees only new events.
		var c atomic.Int64
		wc := outbox.NewWatcher(db, outbox.Config{Name: "c", Start: outbox.StartAtEnd, PollInterval: time.Hour}, count(&c))
		if _, err := wc.Step(ctx); err != nil {
			t.Fatal(err)
		}
		go wc.Run(ctx)
		createN(t, db, "z", 1)
		servertest.Eventually(t, "c to see 1", 30*time.Second, func() bool { return c.Load() == 1 })
		time.Sleep(50 * time.Millisecond)
		if c.Load() != 1 {
			t.Fatalf("StartAtEnd watcher saw %d events", c.Load())
		}
	})
}

// TestHandlerErrorRollsBack: a failing batch leaves the bookmark where it
// was and is retried.
func TestHandlerErrorRollsBack(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.SQLite)
	ctx := context.Background()
	createN(t, db, "e", 2)
	fail := true
	var seen int
	w := outbox.NewWatcher(db, outbox.Config{Name: "w"}, func(ctx context.Context, tx *store.Tx, evs []store.Event) error {
		if fail {
			return fmt.Errorf("boom")
		}
		seen += len(evs)
		return nil
	})
	if _, err := w.Step(ctx); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("step: %v", err)
	}
	fail = false
	if n, err := w.Step(ctx); err != nil || n != 2 || seen != 2 {
		t.Fatalf("retry handled %d (%v), seen %d; want both events", n, err, seen)
	}
}

// TestExpiredBookmarkRelists: a watcher whose bookmark fell below the
// retention floor runs OnExpired before moving on.
func TestExpiredBookmarkRelists(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.SQLite)
	ctx := context.Background()
	createN(t, db, "old", 3)
	err := db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.LockBookmark(ctx, "slow", 0); err != nil {
			return err
		}
		return storetest.Exec(ctx, tx, "UPDATE outbox_floor SET position = (SELECT MAX(position) FROM outbox)")
	})
	if err != nil {
		t.Fatal(err)
	}
	relisted := 0
	w := outbox.NewWatcher(db, outbox.Config{Name: "slow", OnExpired: func(context.Context, *outbox.ExpiredError) error { relisted++; return nil }},
		func(context.Context, *store.Tx, []store.Event) error { return nil })
	if _, err := w.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if relisted != 1 {
		t.Fatalf("relisted %d times, want 1", relisted)
	}
	bms, _ := db.Bookmarks(ctx)
	floor, _, _ := db.EventBounds(ctx)
	if len(bms) != 1 || bms[0].Bookmark != floor {
		t.Fatalf("bookmark %+v, floor %d", bms, floor)
	}
}

// The crash test runs the watcher in a child process (this test binary,
// re-executed) and SIGKILLs it at random moments, mid-batch included.
const (
	envChild = "LAB_OUTBOX_CRASH_CHILD"
	envURL   = "LAB_OUTBOX_CRASH_URL"
)

func TestMain(m *testing.M) {
	switch os.Getenv(envChild) {
	case "1":
		crashChild()
		return
	case "deliver":
		crashDelivererChild()
		return
	}
	os.Exit(m.Run())
}

// crashChild is the child: it handles events by inserting them into the
// handled table inside the batch transaction, slowly, until killed.
func crashChild() {
	db, err := store.Open(context.Background(), store.Config{URL: os.Getenv(envURL)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	w := outbox.NewWatcher(db, outbox.Config{Name: "crashy", BatchSize: 5, PollInterval: 20 * time.Millisecond},
		func(ctx context.Context, tx *store.Tx, evs []store.Event) error {
			for _, ev := range evs {
				if err := storetest.Exec(ctx, tx, "INSERT INTO handled (event_id) VALUES (?)", ev.ID); err != nil {
					return err
				}
				time.Sleep(time.Duration(rand.IntN(4)) * time.Millisecond)
			}
			return nil
		})
	w.Run(context.Background())
}

// TestCrashMidBatch kills the watcher process over and over while events
// arrive: in the end every event has been handled exactly once in the
// database.
func TestCrashMidBatch(t *testing.T) {
	t.Parallel()
	const events = 120
	db, kills := crashLoop(t, "1", "handled", events)
	ctx := context.Background()
	var total, distinct int64
	deadline := time.Now().Add(60 * time.Second)
	for {
		total, distinct = countRows(t, db, "handled")
		if total != distinct {
			t.Fatalf("an event was applied twice: %d rows for %d events", total, distinct)
		}
		if distinct == events {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d kills only %d of %d events handled", kills, distinct, events)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var missing int64
	db.InTx(ctx, func(tx *store.Tx) error {
		return storetest.Raw(ctx, tx, &missing, "SELECT COUNT(*) FROM outbox o WHERE NOT EXISTS (SELECT 1 FROM handled h WHERE h.event_id = o.id)")
	})
	if missing != 0 {
		t.Fatalf("%d events never handled", missing)
	}
	t.Logf("%d events handled exactly once across %d kills", events, kills)
}

// crashLoop makes a PostgreSQL database with table (event_id bigint),
// writes events labs while it starts the test binary as a child of the
// given mode and SIGKILLs it a dozen times at random moments, mid-batch
// included, then leaves one child running until the test ends. It returns
// the store and how many children it killed.
func crashLoop(t *testing.T, mode, table string, events int) (*store.DB, int) {
	t.Helper()
	url := servertest.PostgresURL(t)
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.InTx(ctx, func(tx *store.Tx) error {
		return storetest.Exec(ctx, tx, "CREATE TABLE "+table+" (event_id bigint NOT NULL)")
	}); err != nil {
		t.Fatal(err)
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := range events {
			if _, err := db.CreateLab(ctx, newLab(fmt.Sprintf("c-%d", i))); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	child := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), envChild+"="+mode, envURL+"="+url)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	kills := 0
	for kills < 12 {
		cmd := child()
		time.Sleep(time.Duration(80+rand.IntN(120)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		kills++
	}
	<-writerDone
	cmd := child()
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGKILL); cmd.Wait() })
	return db, kills
}

// countRows counts a crash test's rows and the distinct events among them.
func countRows(t *testing.T, db *store.DB, table string) (total, distinct int64) {
	t.Helper()
	ctx := context.Background()
	err := db.InTx(ctx, func(tx *store.Tx) error {
		var row struct{ Total, Distinct int64 }
		err := storetest.Raw(ctx, tx, &row, "SELECT COUNT(*) AS total, COUNT(DISTINCT event_id) AS distinct FROM "+table)
		total, distinct = row.Total, row.Distinct
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return total, distinct
}
