package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
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

// ReconnectForTest replaces the lock session's connection with a new one,
// as database/sql would after losing the old: the old session ends (and
// its lock with it). With relock the new session takes the lock too, so
// that only the backend pid tells the two sessions apart.
func ReconnectForTest(ctx context.Context, s *LockSession, relock bool) error {
	conn, err := pgx.ConnectConfig(ctx, s.conn.Config())
	if err != nil {
		return err
	}
	s.conn.Close(ctx)
	s.conn = conn
	if relock {
		// Waits until the server has ended the old session.
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1, $2)", lockClass, s.key); err != nil {
			return fmt.Errorf("relock: %w", err)
		}
	}
	return nil
}

// AccessTokensForTest reads lab_access: token by lab uid.
func AccessTokensForTest(ctx context.Context, db *DB) (map[string]string, error) {
	var rows []struct{ UID, Token string }
	if err := db.g.WithContext(ctx).Raw("SELECT uid, token FROM lab_access").Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, r := range rows {
		out[r.UID] = r.Token
	}
	return out, nil
}

// BackfillAccessForTest empties lab_access and runs the INSERT of its
// migration again, as on a store whose labs predate it.
func BackfillAccessForTest(ctx context.Context, db *DB) error {
	ms, err := loadMigrations(db.Kind())
	if err != nil {
		return err
	}
	return db.g.WithContext(ctx).Transaction(func(g *gorm.DB) error {
		if err := g.Exec("DELETE FROM lab_access").Error; err != nil {
			return err
		}
		for _, m := range ms {
			if !strings.HasSuffix(m.name, "_access.sql") {
				continue
			}
			for _, stmt := range splitStatements(m.sql) {
				if strings.HasPrefix(strings.TrimSpace(stmt), "INSERT") {
					if err := g.Exec(stmt).Error; err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}

// ContinueToken is the continue token of a page that ended at ns/name.
func ContinueToken(ns, name string) string { return encodeContinue(ns, name) }
