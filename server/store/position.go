package store

import (
	"context"
	"fmt"
)

// LatestPosition is the highest position the store may have handed out
// so far, as a lab's resource_version or a list's: a client that names a
// higher one did not get it from this store (a typo, another
// installation, a database restored from an older backup). On PostgreSQL
// it is just below the next transaction id to be assigned; on SQLite the
// last value of the commit counter.
func (db *DB) LatestPosition(ctx context.Context) (int64, error) {
	q := "SELECT value FROM position_seq WHERE id = 1"
	if db.postgres {
		q = "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint - 1 + base FROM position_base WHERE id = 1"
	}
	var p int64
	if err := db.g.WithContext(ctx).Raw(q).Scan(&p).Error; err != nil {
		return 0, classify(fmt.Errorf("read the latest position: %w", err))
	}
	return p, nil
}
