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

// TestListKeys pages through every lab's key in list order, each once.
func TestListKeys(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for _, key := range []api.Key{{Namespace: "b", Name: "x"}, {Namespace: "a", Name: "z"}, {Namespace: "a", Name: "y"}, {Namespace: "c", Name: "w"}, {Namespace: "b", Name: "a"}} {
			l := newLab(key.Name)
			l.Metadata.Namespace = key.Namespace
			mustCreate(t, db, l)
		}
		var got []api.Key
		var after api.Key
		for range 10 {
			page, err := db.ListKeys(ctx, store.KeyOptions{After: after, Limit: 2})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, page...)
			if len(page) < 2 {
				break
			}
			after = page[len(page)-1]
		}
		want := []api.Key{{Namespace: "a", Name: "y"}, {Namespace: "a", Name: "z"}, {Namespace: "b", Name: "a"}, {Namespace: "b", Name: "x"}, {Namespace: "c", Name: "w"}}
		if len(got) != len(want) {
			t.Fatalf("keys %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("keys %v, want %v", got, want)
			}
		}
	})
}

// TestListKeysUnsettled leaves out ended labs unless they are being
// deleted.
func TestListKeysUnsettled(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Now()
		end := func(name string, to api.Phase, deleting bool) {
			l := newLab(name)
			if deleting {
				l.Metadata.Finalizers = []string{api.Finalizer}
			}
			l = mustCreate(t, db, l)
			if to != api.PhasePending {
				if _, err := db.UpdateLab(ctx, l.Key(), store.WriteOptions{}, func(x *api.LabInstanceRequest) error {
					return x.Transition(to, "Test", "", now)
				}); err != nil {
					t.Fatal(err)
				}
			}
			if deleting {
				if _, _, err := db.DeleteLab(ctx, l.Key(), store.WriteOptions{}); err != nil {
					t.Fatal(err)
				}
			}
		}
		end("a-pending", api.PhasePending, false)
		end("b-failed", api.PhaseFailed, false)
		end("c-failed-deleting", api.PhaseFailed, true)
		end("d-provisioning", api.PhaseProvisioning, false)
		for _, c := range []struct {
			unsettled bool
			want      string
		}{{false, "[a-pending b-failed c-failed-deleting d-provisioning]"}, {true, "[a-pending c-failed-deleting d-provisioning]"}} {
			keys, err := db.ListKeys(ctx, store.KeyOptions{Limit: 100, Unsettled: c.unsettled})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, k := range keys {
				names = append(names, k.Name)
			}
			if got := fmt.Sprint(names); got != c.want {
				t.Fatalf("Unsettled=%v: %s, want %s", c.unsettled, got, c.want)
			}
		}
	})
}
