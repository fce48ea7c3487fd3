package reconcile_test

import (
	"context"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/reconcile"
	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/store/storetest"
)

// TestRelistsBelowTheFloor: a controller whose outbox bookmark is found
// below the retention floor cannot know which changes it missed, so it
// relists every lab and continues from the floor. A lab whose only event
// was pruned before the controller read it is reconciled all the same
// (with the periodic resync an hour away), and later changes still arrive
// through the outbox.
func TestRelistsBelowTheFloor(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *reconcile.Config) { c.ResyncPeriod = time.Hour })
	ctx := context.Background()
	h.create("before", nil)
	h.waitPhase("before", api.PhaseRunning)

	// The lab and the pruning of its event commit together: the
	// controller's watcher never sees the event.
	l := &api.LabInstanceRequest{
		Metadata: api.ObjectMeta{Name: "pruned", Namespace: "default"},
		Spec: api.Spec{LabTemplate: h.image, StudentEmail: "student@university.edu", DurationMinutes: 60,
			ResourceLimits: &api.ResourceLimits{CPU: "100m", Memory: "32Mi"}},
	}
	err := h.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.CreateLab(ctx, l); err != nil {
			return err
		}
		return storetest.PruneAll(ctx, tx)
	})
	if err != nil {
		t.Fatal(err)
	}
	floor, _, err := h.db.EventBounds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.waitPhase("pruned", api.PhaseRunning)

	var bookmark int64
	deadline := time.Now().Add(30 * time.Second)
	for bookmark < floor {
		if time.Now().After(deadline) {
			t.Fatalf("controller bookmark %d still below the floor %d", bookmark, floor)
		}
		time.Sleep(20 * time.Millisecond)
		bms, err := h.db.Bookmarks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bms {
			if b.Name == api.ControllerWatcher {
				bookmark = b.Bookmark
			}
		}
	}
	h.create("after", nil)
	h.waitPhase("after", api.PhaseRunning)
}
