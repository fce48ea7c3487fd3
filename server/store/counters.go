package store

import (
	"context"
	"fmt"
)

// AddCounter adds delta to a named counter (finalizers completed, ...),
// in the caller's transaction so that it counts exactly the writes that
// committed.
func (tx *Tx) AddCounter(ctx context.Context, name string, delta int64) error {
	err := tx.g.WithContext(ctx).Exec(`INSERT INTO counters (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value`, name, delta).Error
	if err != nil {
		return fmt.Errorf("add counter %s: %w", name, err)
	}
	return nil
}

// Counters returns every named counter.
func (tx *Tx) Counters(ctx context.Context) (map[string]int64, error) {
	var rows []struct {
		Name  string
		Value int64
	}
	if err := tx.g.WithContext(ctx).Raw("SELECT name, value FROM counters").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("read counters: %w", err)
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.Name] = r.Value
	}
	return out, nil
}
