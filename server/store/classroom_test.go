package store_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// TestLabLogs: an ended lab's output is kept in its own table, replaced
// by a later save, never in the lab's JSON or the outbox, and goes with
// the lab; a lab that no longer exists keeps nothing.
func TestLabLogs(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l, err := db.CreateLab(ctx, &api.LabInstanceRequest{Metadata: api.ObjectMeta{Name: "logged", Namespace: "default"},
			Spec: api.Spec{LabTemplate: "busybox", StudentEmail: "s@u.edu", DurationMinutes: 5}})
		if err != nil {
			t.Fatal(err)
		}
		if _, found, err := db.LabLogs(ctx, l.Metadata.UID); err != nil || found {
			t.Fatalf("logs before any save: found=%v err=%v", found, err)
		}
		secret := "output-" + strings.Repeat("x", 100)
		for _, out := range []string{"first\n", secret} {
			if err := db.SaveLabLogs(ctx, l.Metadata.UID, store.LabLogs{Output: out, Truncated: out == secret, SavedAt: time.Now()}, store.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		got, found, err := db.LabLogs(ctx, l.Metadata.UID)
		if err != nil || !found || got.Output != secret || !got.Truncated || got.SavedAt.IsZero() {
			t.Fatalf("logs %+v found=%v err=%v", got, found, err)
		}
		for _, ev := range servertest.AllEvents(t, db) {
			b, _ := json.Marshal(ev.Object)
			if strings.Contains(string(b)+ev.Message, "output-") {
				t.Fatal("output leaked into the outbox")
			}
		}
		if again, _ := db.GetLab(ctx, l.Key()); again != nil {
			b, _ := json.Marshal(again)
			if strings.Contains(string(b), "output-") {
				t.Fatal("output leaked into the lab's JSON")
			}
		}
		if _, _, err := db.DeleteLab(ctx, l.Key(), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, found, err := db.LabLogs(ctx, l.Metadata.UID); err != nil || found {
			t.Fatalf("logs after the lab was deleted: found=%v err=%v", found, err)
		}
		if err := db.SaveLabLogs(ctx, l.Metadata.UID, store.LabLogs{Output: "late", SavedAt: time.Now()}, store.WriteOptions{}); err != nil {
			t.Fatalf("a save for a deleted lab: %v", err)
		}
		if _, found, _ := db.LabLogs(ctx, l.Metadata.UID); found {
			t.Fatal("a deleted lab kept output saved after its deletion")
		}
	})
}

// TestRecordedCapacity: the leader's capacity is recorded under its term
// and read back; an older term's record is fenced.
func TestRecordedCapacity(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, found, err := db.RecordedCapacity(ctx); err != nil || found {
			t.Fatalf("before any record: found=%v err=%v", found, err)
		}
		old, _ := db.StartTerm(ctx, "a")
		cur, _ := db.StartTerm(ctx, "b")
		at := time.Now().UTC().Truncate(time.Second)
		if err := db.RecordCapacity(ctx, store.Capacity{MilliCPU: 2000, MemoryBytes: 24 << 30, MaxMilliCPU: 2000, MaxMemoryBytes: 16 << 30, RecordedBy: "b", RecordedAt: at}, store.WriteOptions{Fence: cur.Epoch}); err != nil {
			t.Fatal(err)
		}
		err := db.RecordCapacity(ctx, store.Capacity{MilliCPU: 1, MemoryBytes: 1, RecordedBy: "a", RecordedAt: at}, store.WriteOptions{Fence: old.Epoch})
		if api.ErrorCode(err) != api.EFENCED {
			t.Fatalf("record under an old term: %v, want fenced", err)
		}
		c, found, err := db.RecordedCapacity(ctx)
		if err != nil || !found || c.MilliCPU != 2000 || c.MemoryBytes != 24<<30 || c.MaxMilliCPU != 2000 || c.MaxMemoryBytes != 16<<30 || c.RecordedBy != "b" || !c.RecordedAt.Equal(at) {
			t.Fatalf("recorded %+v found=%v err=%v", c, found, err)
		}
	})
}
