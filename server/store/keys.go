package store

import (
	"context"
	"fmt"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// ListKeys returns up to limit lab keys after after, in (namespace, name)
// order, from the key index alone: for a resync that only queues keys,
// decoding every lab was most of its cost (the controller's profile with
// 100,000 labs). Start with the zero Key; the next page starts after the
// last key returned.
func (db *DB) ListKeys(ctx context.Context, after api.Key, limit int) ([]api.Key, error) {
	rows, err := db.sqlDB.QueryContext(ctx, db.rebind(`SELECT namespace, name FROM lab_instances
		WHERE (namespace, name) > (?, ?) ORDER BY namespace, name LIMIT ?`), after.Namespace, after.Name, max(limit, 1))
	if err != nil {
		return nil, fmt.Errorf("list lab keys: %w", db.translate(err))
	}
	defer rows.Close()
	var out []api.Key
	for rows.Next() {
		var k api.Key
		if err := rows.Scan(&k.Namespace, &k.Name); err != nil {
			return nil, fmt.Errorf("list lab keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list lab keys: %w", err)
	}
	return out, nil
}
