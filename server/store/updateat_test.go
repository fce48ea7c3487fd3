package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// eventsOf is the type, position and message of every outbox event of l.
func eventsOf(t *testing.T, db *store.DB, key api.Key) []string {
	t.Helper()
	var out []string
	for _, ev := range servertest.AllEvents(t, db) {
		if ev.Key == key {
			out = append(out, fmt.Sprintf("%s@%d:%s", ev.Type, ev.Position, ev.Message))
		}
	}
	return out
}

// TestUpdateLabAt covers the controller's write on both stores: on
// PostgreSQL the common case is one statement, the rest a transaction;
// the outcome must be the same.
func TestUpdateLabAt(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		term, err := db.StartTerm(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		l := mustCreate(t, db, newLab("at"))
		admit := func(x *api.LabInstanceRequest) error {
			x.Metadata.AddFinalizer(api.Finalizer)
			x.Status.ResourceAllocation = api.StringMap{"cpu": "1"}
			return nil
		}
		out, err := db.UpdateLabAt(ctx, l, term.Epoch, api.EventReconciled, "admitted", admit)
		if err != nil {
			t.Fatal(err)
		}
		rv := out.Metadata.ResourceVersion
		if rv <= l.Metadata.ResourceVersion || !out.Metadata.HasFinalizer(api.Finalizer) {
			t.Fatalf("written = rv %d (was %d), finalizers %v", rv, l.Metadata.ResourceVersion, out.Metadata.Finalizers)
		}
		got, err := db.GetLab(ctx, l.Key())
		if err != nil || got.Metadata.ResourceVersion != rv || got.Status.ResourceAllocation["cpu"] != "1" {
			t.Fatalf("stored = %+v, %v; want version %d with the allocation", got, err, rv)
		}
		created := fmt.Sprintf("%s@%d:", api.EventCreated, l.Metadata.ResourceVersion)
		want := fmt.Sprint([]string{created, fmt.Sprintf("%s@%d:", api.EventUpdated, rv), fmt.Sprintf("%s@%d:admitted", api.EventReconciled, rv)})
		if ev := fmt.Sprint(eventsOf(t, db, l.Key())); ev != want {
			t.Fatalf("events = %s, want %s", ev, want)
		}

		// Both events of the write carry the lab as written (decoded once:
		// they share the row's text), each its own copy.
		var objs []*api.LabInstanceRequest
		for _, ev := range servertest.AllEvents(t, db) {
			if ev.Key == l.Key() && ev.Position == rv {
				objs = append(objs, ev.Object)
			}
		}
		if len(objs) != 2 || objs[0] == objs[1] || objs[0].Metadata.ResourceVersion != rv || objs[1].Metadata.ResourceVersion != rv ||
			objs[1].Status.ResourceAllocation["cpu"] != "1" || !objs[1].Metadata.HasFinalizer(api.Finalizer) {
			t.Fatalf("objects of the write's events: %+v", objs)
		}

		// Nothing changed: nothing written, cur returned.
		same, err := db.UpdateLabAt(ctx, got, term.Epoch, api.EventReconciled, "", admit)
		if err != nil || same != got {
			t.Fatalf("no-op write = %p, %v; want the lab passed in", same, err)
		}

		// A status change: statusupdated, and the message defaults to the phase.
		cond := func(x *api.LabInstanceRequest) error {
			x.SetCondition(api.Condition{Type: api.ConditionScheduled, Status: api.ConditionFalse, Reason: "Queued"}, x.Metadata.CreationTimestamp.UTC())
			return nil
		}
		out2, err := db.UpdateLabAt(ctx, got, term.Epoch, api.EventReconciled, "", cond)
		if err != nil {
			t.Fatal(err)
		}
		rv2 := out2.Metadata.ResourceVersion
		evs := eventsOf(t, db, l.Key())
		if tail := fmt.Sprint(evs[len(evs)-2:]); tail != fmt.Sprint([]string{fmt.Sprintf("%s@%d:", api.EventStatusUpdated, rv2), fmt.Sprintf("%s@%d:PENDING", api.EventReconciled, rv2)}) {
			t.Fatalf("events of a status change = %s", tail)
		}

		// Stale: the version read is no longer the stored one.
		_, err = db.UpdateLabAt(ctx, got, term.Epoch, api.EventReconciled, "", func(x *api.LabInstanceRequest) error {
			x.Status.ResourceAllocation = nil
			return nil
		})
		wantCode(t, err, api.ECONFLICT)

		// Fenced: another term began; nothing is written.
		if _, err := db.StartTerm(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		_, err = db.UpdateLabAt(ctx, out2, term.Epoch, api.EventReconciled, "", func(x *api.LabInstanceRequest) error {
			x.Status.ResourceAllocation = nil
			return nil
		})
		wantCode(t, err, api.EFENCED)
		now, err := db.GetLab(ctx, l.Key())
		if err != nil || now.Metadata.ResourceVersion != rv2 || len(now.Status.ResourceAllocation) == 0 {
			t.Fatalf("after a fenced write: %+v, %v", now, err)
		}
		if n := len(eventsOf(t, db, l.Key())); n != len(evs) {
			t.Fatalf("a fenced write added %d events", n-len(evs))
		}

		// A rule every writer obeys holds here too.
		_, err = db.UpdateLabAt(ctx, now, 0, api.EventReconciled, "", func(x *api.LabInstanceRequest) error {
			x.Status.Phase = api.PhaseRunning // PENDING → RUNNING is not a transition
			return nil
		})
		wantCode(t, err, api.ECONFLICT)

		// Labels changed, and the last finalizer of a deleted lab: the
		// transaction's cases.
		relabel, err := db.UpdateLabAt(ctx, now, 0, api.EventReconciled, "relabelled", func(x *api.LabInstanceRequest) error {
			x.Metadata.Labels["term"] = "fall"
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		page, err := db.ListLabs(ctx, store.ListOptions{LabelSelector: map[string]string{"term": "fall"}})
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("label selector after a relabel: %+v, %v", page, err)
		}
		deleting, _, err := db.DeleteLab(ctx, l.Key(), store.WriteOptions{ExpectedVersion: relabel.Metadata.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.UpdateLabAt(ctx, deleting, 0, api.EventFinalized, "done", func(x *api.LabInstanceRequest) error {
			x.Metadata.RemoveFinalizer(api.Finalizer)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.GetLab(ctx, l.Key()); !api.IsNotFound(err) {
			t.Fatalf("lab without finalizers still stored: %v", err)
		}
		// Gone: a write at its last version says so.
		_, err = db.UpdateLabAt(ctx, deleting, 0, api.EventReconciled, "", func(x *api.LabInstanceRequest) error {
			x.Status.ResourceAllocation = nil
			return nil
		})
		wantCode(t, err, api.ENOTFOUND)
	})
}
