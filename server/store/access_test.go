package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// TestAccessTokens: every lab gets a random token with it, kept out of the
// lab object and the outbox; rotation replaces it; deletion removes it.
func TestAccessTokens(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a := mustCreate(t, db, newLab("access-a"))
		b := mustCreate(t, db, newLab("access-b"))
		_, tokA, err := db.LabAccess(ctx, a.Key())
		if err != nil {
			t.Fatal(err)
		}
		lab, tokB, err := db.GatewayLab(ctx, b.Key())
		if err != nil || lab.Metadata.UID != b.Metadata.UID {
			t.Fatalf("GatewayLab: %v, %v", lab, err)
		}
		if len(tokA) < 26 || len(tokB) < 26 || tokA == tokB {
			t.Fatalf("tokens %q and %q: want two different random tokens", tokA, tokB)
		}
		if _, again, _ := db.LabAccess(ctx, a.Key()); again != tokA {
			t.Fatal("LabAccess changed the token")
		}

		_, rotated, err := db.RotateAccess(ctx, a.Key())
		if err != nil {
			t.Fatal(err)
		}
		if _, now, _ := db.GatewayLab(ctx, a.Key()); rotated == tokA || now != rotated {
			t.Fatalf("after rotation: token %q (was %q), stored %q", rotated, tokA, now)
		}
		if _, _, err := db.RotateAccess(ctx, api.Key{Namespace: "default", Name: "nope"}); !api.IsNotFound(err) {
			t.Fatalf("rotate a missing lab: %v", err)
		}

		// No token anywhere in the outbox, the objects or the history.
		rotatedSeen := false
		for _, ev := range servertest.AllEvents(t, db) {
			blob := ev.Message
			if ev.Object != nil {
				blob += ev.Object.Status.ErrorMessage
				for k, v := range ev.Object.Metadata.Annotations {
					blob += k + v
				}
			}
			for _, tok := range []string{tokA, tokB, rotated} {
				if strings.Contains(blob, tok) {
					t.Fatalf("event %s holds a token", ev.Type)
				}
			}
			rotatedSeen = rotatedSeen || (ev.Type == api.EventAccessRotated && ev.Key == a.Key())
		}
		if !rotatedSeen {
			t.Fatal("no access.rotated event")
		}

		// Deleting a lab deletes its token.
		if _, deleted, err := db.DeleteLab(ctx, b.Key(), store.WriteOptions{}); err != nil || !deleted {
			t.Fatalf("delete: %v %v", deleted, err)
		}
		rows, err := store.AccessTokensForTest(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := rows[b.Metadata.UID]; ok || rows[a.Metadata.UID] != rotated || len(rows) != 1 {
			t.Fatalf("lab_access after deleting b: %d rows, a's current %v", len(rows), rows[a.Metadata.UID] == rotated)
		}

		// Labs that predate the table get a random token from its migration.
		c := mustCreate(t, db, newLab("access-c"))
		if err := store.BackfillAccessForTest(ctx, db); err != nil {
			t.Fatal(err)
		}
		rows, _ = store.AccessTokensForTest(ctx, db)
		if len(rows) != 2 || len(rows[a.Metadata.UID]) < 32 || rows[a.Metadata.UID] == rows[c.Metadata.UID] {
			t.Fatalf("backfilled tokens: %d rows, lengths %d/%d", len(rows), len(rows[a.Metadata.UID]), len(rows[c.Metadata.UID]))
		}
	})
}

// TestRecordActivity: a batch moves last_activity of running labs forward
// only, and leaves other labs alone.
func TestRecordActivity(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		run := func(name string) *api.LabInstanceRequest {
			l := mustCreate(t, db, newLab(name))
			out, err := db.UpdateLab(ctx, l.Key(), store.WriteOptions{}, func(x *api.LabInstanceRequest) error {
				if err := x.Transition(api.PhaseProvisioning, "Scheduled", "", time.Now()); err != nil {
					return err
				}
				return x.Transition(api.PhaseRunning, "AppReady", "", time.Now())
			})
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		a, b := run("act-a"), run("act-b")
		pending := mustCreate(t, db, newLab("act-pending"))
		t1 := time.Date(2026, 11, 25, 12, 0, 0, 700, time.UTC)
		n, err := db.RecordActivity(ctx, []store.Activity{
			{Key: a.Key(), UID: a.Metadata.UID, At: t1},
			{Key: b.Key(), UID: "another-lab-of-that-name", At: t1},
			{Key: pending.Key(), UID: pending.Metadata.UID, At: t1},
			{Key: api.Key{Namespace: "default", Name: "gone"}, UID: "x", At: t1},
		})
		if err != nil || n != 1 {
			t.Fatalf("RecordActivity = %d, %v; want 1 lab updated", n, err)
		}
		got, _ := db.GetLab(ctx, a.Key())
		if got.Status.LastActivity == nil || !got.Status.LastActivity.Equal(t1.Truncate(time.Second)) {
			t.Fatalf("last_activity = %v, want %v", got.Status.LastActivity, t1.Truncate(time.Second))
		}
		for _, l := range []*api.LabInstanceRequest{b, pending} {
			if x, _ := db.GetLab(ctx, l.Key()); x.Status.LastActivity != nil {
				t.Fatalf("%s: last_activity %v written", l.Metadata.Name, x.Status.LastActivity)
			}
		}
		// Never backwards; the same second writes nothing.
		rv := got.Metadata.ResourceVersion
		if n, err := db.RecordActivity(ctx, []store.Activity{{Key: a.Key(), UID: a.Metadata.UID, At: t1.Add(-time.Minute)},
			{Key: a.Key(), UID: a.Metadata.UID, At: t1.Add(100 * time.Millisecond)}}); err != nil || n != 0 {
			t.Fatalf("older activity: %d, %v", n, err)
		}
		if x, _ := db.GetLab(ctx, a.Key()); x.Metadata.ResourceVersion != rv {
			t.Fatal("an older activity wrote the lab")
		}
		if n, _ := db.RecordActivity(ctx, []store.Activity{{Key: a.Key(), UID: a.Metadata.UID, At: t1.Add(time.Minute)}}); n != 1 {
			t.Fatalf("newer activity: %d labs updated", n)
		}
	})
}
