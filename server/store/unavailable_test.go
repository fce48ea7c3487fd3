package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// TestUnavailable cuts the store's connection to a real PostgreSQL: every
// method answers api.EUNAVAILABLE (with the driver's error as its cause,
// and a message that leaks nothing), and works again once the database is
// back.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	proxy, dsn := servertest.ProxyPostgres(t, servertest.PostgresURL(t))
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{URL: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustCreate(t, db, newLab("before"))

	proxy.Cut()
	key := api.Key{Namespace: "default", Name: "before"}
	checks := map[string]func(ctx context.Context) error{
		"Ping":   db.Ping,
		"GetLab": func(ctx context.Context) error { _, err := db.GetLab(ctx, key); return err },
		"ListLabs": func(ctx context.Context) error {
			_, err := db.ListLabs(ctx, store.ListOptions{})
			return err
		},
		"CreateLab": func(ctx context.Context) error { _, err := db.CreateLab(ctx, newLab("during")); return err },
		"EventBounds": func(ctx context.Context) error {
			_, _, err := db.EventBounds(ctx)
			return err
		},
	}
	for name, call := range checks {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := call(cctx)
		cancel()
		if code := api.ErrorCode(err); code != api.EUNAVAILABLE {
			t.Errorf("%s during the outage: %v (code %q), want %s", name, err, code, api.EUNAVAILABLE)
			continue
		}
		var ue *store.UnavailableError
		if !errors.As(err, &ue) || ue.Cause == nil {
			t.Errorf("%s: no cause kept: %#v", name, err)
		}
		if msg := api.ErrorMessage(err); !strings.HasPrefix(msg, "the database ") || strings.Contains(msg, "127.0.0.1") {
			t.Errorf("%s: message %q", name, msg)
		}
	}

	proxy.Restore()
	servertest.Eventually(t, "the store to answer again", 20*time.Second, func() bool { return db.Ping(ctx) == nil })
	if _, err := db.CreateLab(ctx, newLab("after")); err != nil {
		t.Fatalf("create after the outage: %v", err)
	}
	if _, err := db.GetLab(ctx, api.Key{Namespace: "default", Name: "during"}); !api.IsNotFound(err) {
		t.Fatalf("a create refused during the outage was stored: %v", err)
	}
}
