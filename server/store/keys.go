package store

import (
	"context"
	"fmt"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// KeyOptions selects the keys ListKeys returns.
type KeyOptions struct {
	After api.Key // start after this key; the zero Key starts at the first
	Limit int
	// Unsettled leaves out the labs that ended (COMPLETED, FAILED) and are
	// not being deleted: a resync has nothing to do for them once their
	// end was handled, and with 100,000 of them, looking at each every
	// resync period kept the controller busy while nothing happened.
	Unsettled bool
}

// ListKeys returns up to opts.Limit lab keys after opts.After, in
// (namespace, name) order, from the key index alone: for a resync that
// only queues keys, decoding every lab was most of its cost (the
// controller's profile with 100,000 labs). The next page starts after the
// last key returned.
func (db *DB) ListKeys(ctx context.Context, opts KeyOptions) ([]api.Key, error) {
	rows, err := db.sqlDB.QueryContext(ctx, db.rebind(`SELECT namespace, name FROM lab_instances
		WHERE (namespace, name) > (?, ?) AND (NOT ? OR deleting OR phase NOT IN (?, ?))
		ORDER BY namespace, name LIMIT ?`), opts.After.Namespace, opts.After.Name, opts.Unsettled,
		string(api.PhaseCompleted), string(api.PhaseFailed), max(opts.Limit, 1))
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
