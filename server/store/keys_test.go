package store_test

import (
	"context"
	"testing"

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
			page, err := db.ListKeys(ctx, after, 2)
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
