// Package storetest lets tests run raw SQL inside a store transaction: to
// inspect the database itself (locks, plans, counts) or to set up states
// the typed methods cannot reach (a restored database, a crashed writer).
//
// It is for tests only. Product code uses the store's typed methods, and
// internal/archtest fails if any non-test code imports this package.
package storetest

import (
	"context"

	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/store/internal/testhook"
)

// Raw runs a query in tx and scans the result into dest (GORM's Scan:
// a struct, a slice of them, or a single value).
func Raw(ctx context.Context, tx *store.Tx, dest any, query string, args ...any) error {
	return testhook.Raw(ctx, tx, dest, query, args...)
}

// Exec runs a statement in tx.
func Exec(ctx context.Context, tx *store.Tx, query string, args ...any) error {
	return testhook.Exec(ctx, tx, query, args...)
}

// PruneAll deletes every outbox event and raises the floor past them, as
// the pruner does once retention has passed, whatever the bookmarks say:
// the state of a reader that was away while its events were pruned (a
// restored or hand-moved bookmark, a watch resumed too late).
func PruneAll(ctx context.Context, tx *store.Tx) error {
	if err := Exec(ctx, tx, "UPDATE outbox_floor SET position = COALESCE((SELECT MAX(position) FROM outbox), position)"); err != nil {
		return err
	}
	return Exec(ctx, tx, "DELETE FROM outbox WHERE position <= (SELECT position FROM outbox_floor)")
}
