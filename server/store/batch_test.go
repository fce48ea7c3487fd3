package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// TestUpdateLabsAt: a batch writes every lab still at the version read,
// with its events, under one position; leaves out (nil) the labs that
// changed meanwhile; a fenced batch writes nothing.
func TestUpdateLabsAt(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		term, err := db.StartTerm(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		var labs []*api.LabInstanceRequest
		for i := range 4 {
			labs = append(labs, mustCreate(t, db, newLab(fmt.Sprint("batch-", i))))
		}
		// batch-2 changes after it was read.
		if _, err := db.UpdateLab(ctx, labs[2].Key(), store.WriteOptions{}, func(x *api.LabInstanceRequest) error {
			x.Spec.DurationMinutes = 90
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		place := func(n int) store.Mutator {
			return func(x *api.LabInstanceRequest) error {
				x.Metadata.AddFinalizer(api.Finalizer)
				x.SetCondition(api.Condition{Type: api.ConditionScheduled, Status: api.ConditionFalse, Reason: "InsufficientCapacity",
					Message: fmt.Sprintf("%d labs queued before it", n)}, now)
				return nil
			}
		}
		var ups []store.LabUpdate
		for i, l := range labs[:3] {
			ups = append(ups, store.LabUpdate{Cur: l, Mutate: place(i)})
		}
		ups = append(ups, store.LabUpdate{Cur: labs[3], Mutate: func(*api.LabInstanceRequest) error { return nil }}) // no change
		out, err := db.UpdateLabsAt(ctx, term.Epoch, api.EventReconciled, "", ups)
		if err != nil {
			t.Fatal(err)
		}
		if out[2] != nil || out[3] != labs[3] || out[0] == nil || out[1] == nil {
			t.Fatalf("results: %v", out)
		}
		pos := out[0].Metadata.ResourceVersion
		if pos <= labs[3].Metadata.ResourceVersion || out[1].Metadata.ResourceVersion != pos {
			t.Fatalf("positions %d, %d: want one position, newer than the reads", pos, out[1].Metadata.ResourceVersion)
		}
		for i := range 2 {
			got, err := db.GetLab(ctx, labs[i].Key())
			c := got.Condition(api.ConditionScheduled)
			if err != nil || got.Metadata.ResourceVersion != pos || c == nil || c.Message != fmt.Sprintf("%d labs queued before it", i) ||
				!got.Metadata.HasFinalizer(api.Finalizer) {
				t.Fatalf("stored %s: %+v, %v", labs[i].Metadata.Name, got, err)
			}
			want := fmt.Sprint([]string{fmt.Sprintf("%s@%d:", api.EventCreated, labs[i].Metadata.ResourceVersion),
				fmt.Sprintf("%s@%d:", api.EventUpdated, pos), fmt.Sprintf("%s@%d:PENDING", api.EventReconciled, pos)})
			if ev := fmt.Sprint(eventsOf(t, db, labs[i].Key())); ev != want {
				t.Fatalf("events of %s = %s, want %s", labs[i].Metadata.Name, ev, want)
			}
		}
		if got, _ := db.GetLab(ctx, labs[2].Key()); got.Condition(api.ConditionScheduled) != nil {
			t.Fatal("a lab that changed after it was read was written")
		}

		// Fenced: nothing written.
		if _, err := db.StartTerm(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		_, err = db.UpdateLabsAt(ctx, term.Epoch, api.EventReconciled, "", []store.LabUpdate{{Cur: out[0], Mutate: place(7)}})
		wantCode(t, err, api.EFENCED)
		if got, _ := db.GetLab(ctx, labs[0].Key()); got.Metadata.ResourceVersion != pos {
			t.Fatal("a fenced batch wrote")
		}
	})
}
