package store

import (
	"context"
	"strings"

	"gorm.io/gorm"
)

// ExplainList returns PostgreSQL's plan for a list query.
func ExplainList(ctx context.Context, db *DB, opts ListOptions) (string, error) {
	var plan []string
	err := db.InTx(ctx, func(tx *Tx) error {
		q, err := tx.listQuery(ctx, opts, DefaultListLimit)
		if err != nil {
			return err
		}
		stmt := q.Session(&gorm.Session{DryRun: true}).Find(&[]labRow{}).Statement
		return tx.g.Raw("EXPLAIN "+stmt.SQL.String(), stmt.Vars...).Scan(&plan).Error
	})
	return strings.Join(plan, "\n"), err
}

// Migrations lists the embedded migrations' names.
func Migrations(dialect string) ([]string, error) {
	ms, err := loadMigrations(dialect)
	var out []string
	for _, m := range ms {
		out = append(out, m.name)
	}
	return out, err
}
