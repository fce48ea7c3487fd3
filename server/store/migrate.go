package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"gorm.io/gorm"
)

//go:embed migrations
var migrations embed.FS

// migrationLockID is the advisory lock that serialises migrations when
// several replicas start at once.
const migrationLockID = 0x6c61626d6967 // "labmig"

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s: want NNNN_name.sql", e.Name())
		}
		b, err := fs.ReadFile(migrations, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// migrate applies pending migrations in one transaction. On PostgreSQL an
// advisory transaction lock makes replicas that start together take turns:
// the first applies, the others find nothing left to do. DDL is
// transactional there, so a failed migration leaves no trace.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations(db.Kind())
	if err != nil {
		return err
	}
	err = db.g.WithContext(ctx).Transaction(func(g *gorm.DB) error {
		if db.postgres {
			if err := g.Exec("SELECT pg_advisory_xact_lock(?)", migrationLockID).Error; err != nil {
				return fmt.Errorf("lock migrations: %w", err)
			}
		}
		if err := g.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
			version integer PRIMARY KEY, name text NOT NULL, applied_at timestamp NOT NULL)`).Error; err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var applied []int
		if err := g.Raw("SELECT version FROM schema_migrations").Scan(&applied).Error; err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		done := map[int]bool{}
		for _, v := range applied {
			done[v] = true
		}
		for _, m := range ms {
			if done[m.version] {
				continue
			}
			for _, stmt := range splitStatements(m.sql) {
				if err := g.Exec(stmt).Error; err != nil {
					return fmt.Errorf("migration %s: %w", m.name, err)
				}
			}
			if err := g.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				m.version, m.name, db.now().UTC()).Error; err != nil {
				return fmt.Errorf("record migration %s: %w", m.name, err)
			}
			db.log.Info("applied migration", "migration", m.name, "store", db.Kind())
		}
		return nil
	})
	if err != nil {
		return err
	}
	if db.postgres {
		return db.checkPositionBase(ctx)
	}
	return nil
}

// splitStatements splits a migration at semicolons that end a line,
// outside $$-quoted bodies, so that each statement runs on its own (the
// PostgreSQL extended protocol takes one statement at a time).
func splitStatements(sql string) []string {
	var out []string
	var cur strings.Builder
	inBody := false
	for _, line := range strings.SplitAfter(sql, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") && cur.Len() == 0 {
			continue
		}
		cur.WriteString(line)
		if strings.Count(line, "$$")%2 == 1 {
			inBody = !inBody
		}
		if !inBody && strings.HasSuffix(trimmed, ";") {
			if s := strings.TrimSpace(cur.String()); s != "" {
				out = append(out, s)
			}
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// checkPositionBase keeps positions growing across a dump and restore into
// a new cluster, whose transaction ids start again from small numbers: if
// the next position would not exceed every position already stored, the
// base moves up past them.
func (db *DB) checkPositionBase(ctx context.Context) error {
	return db.g.WithContext(ctx).Transaction(func(g *gorm.DB) error {
		if err := g.Exec("SELECT pg_advisory_xact_lock(?)", migrationLockID).Error; err != nil {
			return fmt.Errorf("lock position base: %w", err)
		}
		var row struct {
			Next  int64
			Known int64
		}
		err := g.Raw(`SELECT
			pg_snapshot_xmax(pg_current_snapshot())::text::bigint + (SELECT base FROM position_base) AS next,
			GREATEST(
				(SELECT COALESCE(MAX(position), 0) FROM outbox),
				(SELECT COALESCE(MAX(resource_version), 0) FROM lab_instances),
				(SELECT COALESCE(MAX(position), 0) FROM watcher_bookmarks),
				(SELECT position FROM outbox_floor)) AS known`).Scan(&row).Error
		if err != nil {
			return fmt.Errorf("read positions: %w", err)
		}
		if row.Next > row.Known {
			return nil
		}
		shift := row.Known - row.Next + 1
		db.log.Warn("transaction ids are behind stored positions (restored database?); moving the position base up", "shift", shift)
		return g.Exec("UPDATE position_base SET base = base + ?", shift).Error
	})
}
