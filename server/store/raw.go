package store

import (
	"context"
	"fmt"
)

// Raw runs a read-only query in tx and scans the result into dest. It is
// for tests and diagnostics that inspect the database itself (locks,
// plans); product code uses the typed methods.
func (tx *Tx) Raw(ctx context.Context, dest any, query string, args ...any) error {
	if err := tx.g.WithContext(ctx).Raw(query, args...).Scan(dest).Error; err != nil {
		return fmt.Errorf("raw query: %w", err)
	}
	return nil
}

// Exec runs a statement in tx, for tests that set up states the typed
// methods cannot reach (a restored database, a crashed writer).
func (tx *Tx) Exec(ctx context.Context, query string, args ...any) error {
	if err := tx.g.WithContext(ctx).Exec(query, args...).Error; err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	return nil
}
