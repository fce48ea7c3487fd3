// Package servertest gives tests real backing services: a fresh PostgreSQL
// database per test (from LAB_TEST_DATABASE_URL), opened stores of either
// kind, the Docker engine with the test image (Docker), and a bounded wait
// for a condition (Eventually).
//
// When CI=true, a test that needs PostgreSQL fails if it cannot connect;
// elsewhere it is skipped with the reason, so that `go test` works on a
// laptop without PostgreSQL while CI never passes by skipping.
package servertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/labrm/terraform-provider-lab/server/store"
)

// EnvDatabaseURL names the environment variable with an admin DSN of the
// test PostgreSQL server (any database; CREATE DATABASE rights needed).
const EnvDatabaseURL = "LAB_TEST_DATABASE_URL"

// unavailable skips, or under CI fails, a test whose service is missing.
func unavailable(t testing.TB, service, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and %s is required: %s", service, msg)
	}
	t.Skipf("%s not available: %s (make test or scripts/testenv.sh starts it)", service, msg)
}

// PostgresURL creates an empty database for this test and returns its DSN;
// the database is dropped when the test ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvDatabaseURL)
	if admin == "" {
		unavailable(t, "PostgreSQL", "%s is not set", EnvDatabaseURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		unavailable(t, "PostgreSQL", "connect %s: %v", EnvDatabaseURL, err)
	}
	defer conn.Close(ctx)
	name := "t_" + randomHex(8)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Logf("drop test database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvDatabaseURL, err)
	}
	u.Path = "/" + name
	return u.String()
}

// TerminatePostgresSessions ends, through the admin connection, every
// session of the database in dsn whose application_name is appName, as
// if its connection had died; it returns how many it ended. Tests use it
// to take a lock session away from a leader.
func TerminatePostgresSessions(t testing.TB, dsn, appName string) int {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse %s: %v", dsn, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, os.Getenv(EnvDatabaseURL))
	if err != nil {
		unavailable(t, "PostgreSQL", "connect %s: %v", EnvDatabaseURL, err)
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT COUNT(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = $1 AND application_name = $2`, strings.TrimPrefix(u.Path, "/"), appName).Scan(&n)
	if err != nil {
		t.Fatalf("terminate sessions %q: %v", appName, err)
	}
	return n
}

// SQLiteURL returns a store URL of a fresh SQLite file in the test's temp dir.
func SQLiteURL(t testing.TB) string {
	t.Helper()
	return "sqlite:" + filepath.Join(t.TempDir(), "labd.db")
}

// Kinds of store, for tests that run against both.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// StoreURL returns a fresh store URL of the given kind.
func StoreURL(t testing.TB, kind string) string {
	t.Helper()
	switch kind {
	case SQLite:
		return SQLiteURL(t)
	case Postgres:
		return PostgresURL(t)
	}
	t.Fatalf("unknown store kind %q", kind)
	return ""
}

// OpenStore opens (and migrates) a fresh store of the given kind, closed
// when the test ends.
func OpenStore(t testing.TB, kind string) *store.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := store.Open(ctx, store.Config{URL: StoreURL(t, kind)})
	if err != nil {
		t.Fatalf("open %s store: %v", kind, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// EachStore runs fn as a parallel subtest once per store kind.
func EachStore(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	for _, kind := range []string{SQLite, Postgres} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			fn(t, OpenStore(t, kind))
		})
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// AllEvents reads the whole outbox once every event written so far is
// readable: on PostgreSQL the newest become readable only once every older
// transaction anywhere in the cluster has ended.
func AllEvents(t testing.TB, db *store.DB) []store.Event {
	t.Helper()
	ctx := context.Background()
	_, current, err := db.EventBounds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var evs []store.Event
	Eventually(t, "the outbox to be readable up to its end", 30*time.Second, func() bool {
		if evs, err = db.ReadEvents(ctx, 0, 100000); err != nil {
			t.Fatal(err)
		}
		return len(evs) > 0 && evs[len(evs)-1].Position >= current
	})
	return evs
}
