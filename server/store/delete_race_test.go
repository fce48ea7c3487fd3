package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/store/storetest"
)

// TestDeleteRacesAWriter pins the race a plain DELETE loses without a
// retry: the controller commits a status write between the delete's read
// and its conditional write. The writer holds the row lock while the
// delete reads, so the delete's UPDATE waits for it and then finds a newer
// version. A DELETE that named no version must not answer 409 for that.
func TestDeleteRacesAWriter(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, "postgres")
	ctx := context.Background()
	l := newLab("raced")
	l.Metadata.Finalizers = []string{api.Finalizer}
	l = mustCreate(t, db, l)

	locked, release := make(chan struct{}), make(chan struct{})
	writer := make(chan error, 1)
	go func() {
		writer <- db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.UpdateLab(ctx, l.Key(), store.WriteOptions{}, func(x *api.LabInstanceRequest) error {
				x.Metadata.Annotations = api.StringMap{"status-write": "1"}
				return nil
			}); err != nil {
				return err
			}
			close(locked)
			<-release
			return nil
		})
	}()
	<-locked

	type result struct {
		l   *api.LabInstanceRequest
		err error
	}
	deleted := make(chan result, 1)
	go func() {
		out, _, err := db.DeleteLab(ctx, l.Key(), store.WriteOptions{})
		deleted <- result{out, err}
	}()
	// Wait until the delete is blocked on the writer's row lock: it has
	// read the old version and now waits to write.
	servertest.Eventually(t, "the delete to wait for the row lock", 10*time.Second, func() bool {
		var waiting int
		err := db.InTx(ctx, func(tx *store.Tx) error {
			return storetest.Raw(ctx, tx, &waiting, `SELECT COUNT(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock'`)
		})
		return err == nil && waiting > 0
	})
	close(release)
	if err := <-writer; err != nil {
		t.Fatalf("status write: %v", err)
	}
	got := <-deleted
	if got.err != nil {
		t.Fatalf("DELETE without a version raced a status write and failed: %v", got.err)
	}
	if got.l.Metadata.DeletionTimestamp == nil || got.l.Metadata.Annotations["status-write"] != "1" {
		t.Fatalf("delete did not apply on top of the newer version: %+v", got.l.Metadata)
	}

	// Naming the version it expects still gets the conflict.
	m := mustCreate(t, db, newLab("versioned"))
	if _, err := db.UpdateLab(ctx, m.Key(), store.WriteOptions{}, func(x *api.LabInstanceRequest) error {
		x.Metadata.Annotations = api.StringMap{"x": "1"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_, _, err := db.DeleteLab(ctx, m.Key(), store.WriteOptions{ExpectedVersion: m.Metadata.ResourceVersion})
	wantCode(t, err, api.ECONFLICT)
}
