package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/store/storetest"
)

// TestOutboxNoGapWhileWriterOpen holds one writer's transaction open while
// a later writer commits: a reader must not read past the open one, and
// once it commits the reader gets both, the earlier first.
func TestOutboxNoGapWhileWriterOpen(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.Postgres)
	ctx := context.Background()

	inTx := make(chan struct{})
	release := make(chan struct{})
	slowDone := make(chan error, 1)
	go func() {
		slowDone <- db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.CreateLab(ctx, newLab("slow")); err != nil {
				return err
			}
			close(inTx)
			<-release
			return nil
		})
	}()
	<-inTx
	fast := mustCreate(t, db, newLab("fast"))

	// The later writer has committed, but reading must stop short of the
	// writer still open, however often we look.
	var bookmark int64
	for range 20 {
		evs, err := db.ReadEvents(ctx, bookmark, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			t.Fatalf("read %s event of %s while an earlier writer is still open", ev.Type, ev.Key)
		}
	}
	close(release)
	if err := <-slowDone; err != nil {
		t.Fatal(err)
	}
	var got []store.Event
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < 2 && time.Now().Before(deadline) {
		evs, err := db.ReadEvents(ctx, bookmark, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			got = append(got, ev)
			bookmark = ev.Position
		}
	}
	if len(got) != 2 || got[0].Key.Name != "slow" || got[1].Key.Name != "fast" {
		t.Fatalf("after commit read %v, want slow then fast", names(got))
	}
	if got[1].Object.Metadata.ResourceVersion != fast.Metadata.ResourceVersion {
		t.Fatalf("event rv %d != object rv %d", got[1].Object.Metadata.ResourceVersion, fast.Metadata.ResourceVersion)
	}
}

func names(evs []store.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Key.Name+":"+ev.Type)
	}
	return out
}

// TestOutboxReaderSeesEveryEventOnce runs many concurrent writers whose
// transactions stay open for random times while a reader tails the outbox
// from its position: the reader must see every event exactly once, in
// position order.
func TestOutboxReaderSeesEveryEventOnce(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const writers, each = 6, 15
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					err := db.InTx(ctx, func(tx *store.Tx) error {
						if _, err := tx.CreateLab(ctx, newLab(fmt.Sprintf("w%d-%d", w, i))); err != nil {
							return err
						}
						time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
						return nil
					})
					if err != nil {
						t.Error(err)
					}
				}
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()

		seen := map[string]int{}
		var last int64
		deadline := time.Now().Add(30 * time.Second)
		finished := false
		for len(seen) < writers*each && time.Now().Before(deadline) {
			select {
			case <-done:
				finished = true
			default:
			}
			evs, err := db.ReadEvents(ctx, last, 7)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs {
				if ev.Position < last {
					t.Fatalf("position went back: %d after %d", ev.Position, last)
				}
				last = ev.Position
				seen[ev.Key.Name]++
			}
			if len(evs) == 0 && finished {
				time.Sleep(5 * time.Millisecond)
			}
		}
		if len(seen) != writers*each {
			t.Fatalf("reader saw %d labs, want %d", len(seen), writers*each)
		}
		for name, n := range seen {
			if n != 1 {
				t.Fatalf("event of %s read %d times", name, n)
			}
		}
	})
}

func TestFencing(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := mustCreate(t, db, newLab("fenced"))
		term1, err := db.StartTerm(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		setDuration := func(m int) store.Mutator {
			return func(x *api.LabInstanceRequest) error { x.Spec.DurationMinutes = m; return nil }
		}
		if _, err := db.UpdateLab(ctx, l.Key(), store.WriteOptions{Fence: term1.Epoch}, setDuration(61)); err != nil {
			t.Fatalf("write under current epoch: %v", err)
		}
		term2, err := db.StartTerm(ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		if term2.Epoch <= term1.Epoch || term2.Holder != "b" {
			t.Fatalf("term2 = %+v after %+v", term2, term1)
		}
		_, err = db.UpdateLab(ctx, l.Key(), store.WriteOptions{Fence: term1.Epoch}, setDuration(62))
		wantCode(t, err, api.EFENCED)
		_, _, err = db.DeleteLab(ctx, l.Key(), store.WriteOptions{Fence: term1.Epoch})
		wantCode(t, err, api.EFENCED)
		err = db.AppendEvent(ctx, l, api.EventReconciled, "", store.WriteOptions{Fence: term1.Epoch})
		wantCode(t, err, api.EFENCED)
		got, err := db.GetLab(ctx, l.Key())
		if err != nil || got.Spec.DurationMinutes != 61 {
			t.Fatalf("deposed leader's write was stored: %+v %v", got, err)
		}
	})
}

// TestFenceBlocksTakeover shows why the fence is FOR SHARE: a new term
// cannot start while an old leader's fenced write is in flight, so that
// write either commits before the takeover or fails after it.
func TestFenceBlocksTakeover(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.Postgres)
	ctx := context.Background()
	l := mustCreate(t, db, newLab("race"))
	term, err := db.StartTerm(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	checked := make(chan struct{})
	release := make(chan struct{})
	oldDone := make(chan error, 1)
	go func() {
		oldDone <- db.InTx(ctx, func(tx *store.Tx) error {
			_, err := tx.UpdateLab(ctx, l.Key(), store.WriteOptions{Fence: term.Epoch}, func(x *api.LabInstanceRequest) error {
				x.Spec.DurationMinutes = 99
				return nil
			})
			close(checked)
			<-release
			return err
		})
	}()
	<-checked
	newTerm := make(chan store.Term, 1)
	go func() {
		nt, err := db.StartTerm(ctx, "new")
		if err != nil {
			t.Error(err)
		}
		newTerm <- nt
	}()
	// Wait until the takeover is really blocked on the old writer's lock.
	servertest.Eventually(t, "the condition", 10*time.Second, func() bool {
		var n int
		err := db.InTx(ctx, func(tx *store.Tx) error {
			return storetest.Raw(ctx, tx, &n, `SELECT COUNT(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'UPDATE leader_term%'`)
		})
		return err == nil && n == 1
	})
	select {
	case nt := <-newTerm:
		t.Fatalf("takeover finished (%+v) while a fenced write was open", nt)
	default:
	}
	close(release)
	if err := <-oldDone; err != nil {
		t.Fatalf("old leader's write that began before the takeover: %v", err)
	}
	nt := <-newTerm
	if nt.Epoch != term.Epoch+1 {
		t.Fatalf("new epoch %d, want %d", nt.Epoch, term.Epoch+1)
	}
	_, err = db.UpdateLab(ctx, l.Key(), store.WriteOptions{Fence: term.Epoch}, func(x *api.LabInstanceRequest) error {
		x.Spec.DurationMinutes = 100
		return nil
	})
	wantCode(t, err, api.EFENCED)
}

func TestPruneAndResume(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a := mustCreate(t, db, newLab("a"))
		mustCreate(t, db, newLab("b"))
		evs := servertest.AllEvents(t, db)
		if len(evs) != 2 {
			t.Fatalf("read %d events, want 2", len(evs))
		}
		// A watcher that has handled only the first event holds the second.
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.LockBookmark(ctx, "w", 0); err != nil {
				return err
			}
			return tx.SetBookmark(ctx, "w", evs[0].Position)
		})
		if err != nil {
			t.Fatal(err)
		}
		n, err := db.PruneEvents(ctx, time.Now().Add(time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("pruned %d (%v), want 1", n, err)
		}
		if err := db.CheckResume(ctx, 0); api.ErrorCode(err) != api.EGONE {
			t.Fatalf("resume from 0 after pruning: %v, want gone", err)
		}
		if err := db.CheckResume(ctx, a.Metadata.ResourceVersion); err != nil {
			t.Fatalf("resume from the pruned floor: %v", err)
		}
		left, err := db.ReadEvents(ctx, evs[0].Position, 10)
		if err != nil || len(left) != 1 || left[0].Key.Name != "b" {
			t.Fatalf("after prune read %v (%v), want b", names(left), err)
		}
		bm, err := db.Bookmarks(ctx)
		if err != nil || len(bm) != 1 || bm[0].Lag != 1 || bm[0].Bookmark != evs[0].Position {
			t.Fatalf("bookmarks = %+v (%v)", bm, err)
		}
	})
}

// TestListResourceVersionWatchable: a watch from a list's resource_version
// sees every change made after the list.
func TestListResourceVersionWatchable(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		mustCreate(t, db, newLab("before"))
		list, err := db.ListLabs(ctx, store.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		after := mustCreate(t, db, newLab("after"))
		if after.Metadata.ResourceVersion <= list.Metadata.ResourceVersion {
			t.Fatalf("change after list has rv %d <= list rv %d", after.Metadata.ResourceVersion, list.Metadata.ResourceVersion)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			evs, err := db.ReadEvents(ctx, list.Metadata.ResourceVersion, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs {
				if ev.Key.Name == "after" {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("watch from list rv %d never saw the later change: %v", list.Metadata.ResourceVersion, names(evs))
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
