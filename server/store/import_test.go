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

// TestImportLabs: a bulk load keeps each lab's status, writes its labels
// (found by a label selector) and its created event.
func TestImportLabs(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.Postgres)
	ctx := context.Background()
	var labs []*api.LabInstanceRequest
	for i := range 3 {
		l := newLab(fmt.Sprintf("imp-%d", i))
		l.Metadata.Labels = api.StringMap{"course": fmt.Sprint("c", i%2)}
		if i == 2 {
			l.Status.Phase = api.PhaseRunning
		}
		labs = append(labs, l)
	}
	if err := db.ImportLabs(ctx, labs); err != nil {
		t.Fatal(err)
	}
	list, err := db.ListLabs(ctx, store.ListOptions{LabelSelector: map[string]string{"course": "c0"}})
	if err != nil || len(list.Items) != 2 || list.Items[0].Metadata.Name != "imp-0" || list.Items[1].Metadata.Name != "imp-2" {
		t.Fatalf("course=c0: %+v, %v", list, err)
	}
	// The page's own statement carries the list's position.
	if list.Metadata.ResourceVersion <= 0 {
		t.Fatalf("list resource_version %d", list.Metadata.ResourceVersion)
	}
	if got := list.Items[1]; got.Status.Phase != api.PhaseRunning || got.Metadata.ResourceVersion == 0 || got.Metadata.UID == "" {
		t.Fatalf("imported lab %+v", got)
	}
	// Readable once every older transaction in the cluster has ended.
	var evs []store.Event
	servertest.Eventually(t, "the created events", 10*time.Second, func() bool {
		evs, err = db.ReadEvents(ctx, 0, 10)
		return err != nil || len(evs) == 3
	})
	if err != nil || len(evs) != 3 || evs[0].Type != api.EventCreated || evs[0].Object.Metadata.ResourceVersion != list.Items[0].Metadata.ResourceVersion {
		t.Fatalf("events %d (%v)", len(evs), err)
	}
	if err := db.ImportLabs(ctx, labs[:1]); api.ErrorCode(err) == "" && err == nil {
		t.Fatal("importing a lab twice succeeded")
	}
}
