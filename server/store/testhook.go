package store

import (
	"context"
	"fmt"

	"github.com/labrm/terraform-provider-lab/server/store/internal/testhook"
)

// Raw SQL in a caller's transaction is for tests only (package storetest);
// product code uses the typed methods. The functions are handed over
// through an internal package so that store.Tx has no such methods.
func init() {
	testhook.Raw = func(ctx context.Context, tx any, dest any, query string, args ...any) error {
		return tx.(*Tx).raw(ctx, dest, query, args...)
	}
	testhook.Exec = func(ctx context.Context, tx any, query string, args ...any) error {
		return tx.(*Tx).exec(ctx, query, args...)
	}
}

func (tx *Tx) raw(ctx context.Context, dest any, query string, args ...any) error {
	if err := tx.g.WithContext(ctx).Raw(query, args...).Scan(dest).Error; err != nil {
		return fmt.Errorf("raw query: %w", err)
	}
	return nil
}

func (tx *Tx) exec(ctx context.Context, query string, args ...any) error {
	if err := tx.g.WithContext(ctx).Exec(query, args...).Error; err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	return nil
}
