package store

import (
	"context"
	"fmt"
)

// InstallationID names this store; it is made once, by the first
// migration, and never changes.
func (db *DB) InstallationID(ctx context.Context) (string, error) {
	var id string
	if err := db.g.WithContext(ctx).Raw("SELECT uid FROM installation WHERE id = 1").Scan(&id).Error; err != nil {
		return "", classify(fmt.Errorf("read installation id: %w", err))
	}
	return id, nil
}
