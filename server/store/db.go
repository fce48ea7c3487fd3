package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/gofrs/flock"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Config configures Open.
type Config struct {
	// URL selects the store: "" opens the embedded SQLite file
	// DefaultSQLitePath; "postgres://..." or "postgresql://..." opens
	// PostgreSQL; "sqlite:PATH" or "file:PATH" opens that SQLite file.
	URL    string
	Logger *slog.Logger
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
	// OnConflict, if set, is called for every write refused because the
	// lab changed since it was read (optimistic-lock conflicts, a metric).
	OnConflict func()
	// MaxOpenConns bounds the PostgreSQL pool (default 20). SQLite always
	// uses one connection: it serialises writers anyway, and one connection
	// rules out "database is locked" errors.
	MaxOpenConns int
}

// DefaultSQLitePath is the embedded store's file when no URL is given.
const DefaultSQLitePath = "labd.db"

// DB is the store. Safe for concurrent use.
type DB struct {
	g        *gorm.DB
	sqlDB    *sql.DB
	postgres bool
	url      string // PostgreSQL DSN, or the SQLite file path
	log      *slog.Logger
	now      func() time.Time
	lock     *flock.Flock // SQLite: one process per file
	notify   *broadcaster
	conflict func()

	poke         chan struct{} // a NOTIFY is due (notify.go)
	notifierDone chan struct{}

	listenOnce sync.Once
	closeOnce  sync.Once
	closed     chan struct{}
	listenDone chan struct{}
}

// Tx is a store transaction; see DB.InTx. Its methods are those of DB, run
// inside the transaction.
type Tx struct {
	db          *DB
	g           *gorm.DB
	position    int64 // this transaction's position, once known
	wrote       bool
	afterCommit []func()
}

// Open connects, takes the SQLite file lock if embedded, and applies
// pending migrations.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	db := &DB{
		log:      cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		now:      cfg.Now,
		notify:   newBroadcaster(),
		closed:   make(chan struct{}),
		conflict: cfg.OnConflict,
	}
	if db.conflict == nil {
		db.conflict = func() {}
	}
	if db.now == nil {
		db.now = time.Now
	}
	gcfg := &gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: true, TranslateError: true, NowFunc: func() time.Time { return db.now().UTC() }}
	var err error
	switch u := cfg.URL; {
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		db.postgres, db.url = true, u
		db.g, err = gorm.Open(postgres.Open(u), gcfg)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
	default:
		path := u
		path = strings.TrimPrefix(path, "sqlite://")
		path = strings.TrimPrefix(path, "sqlite:")
		path = strings.TrimPrefix(path, "file:")
		if path == "" {
			path = DefaultSQLitePath
		}
		if strings.Contains(path, "://") {
			return nil, fmt.Errorf("unsupported database url scheme in %q (want postgres://, sqlite: or empty)", redact(u))
		}
		db.url = path
		if err := db.lockFile(path); err != nil {
			return nil, err
		}
		dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
		db.g, err = gorm.Open(sqlite.Open(dsn), gcfg)
		if err != nil {
			db.lock.Unlock()
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
	}
	db.sqlDB, err = db.g.DB()
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	if db.postgres {
		db.sqlDB.SetMaxOpenConns(cmp.Or(cfg.MaxOpenConns, 20))
		db.sqlDB.SetMaxIdleConns(cmp.Or(cfg.MaxOpenConns, 20))
		db.sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	} else {
		db.sqlDB.SetMaxOpenConns(1)
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if db.postgres {
		db.poke, db.notifierDone = make(chan struct{}, 1), make(chan struct{})
		go db.notifier()
	}
	return db, nil
}

func (db *DB) lockFile(path string) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create database directory: %w", err)
		}
	}
	db.lock = flock.New(path + ".lock")
	ok, err := db.lock.TryLock()
	if err != nil {
		return fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		return fmt.Errorf("database %s is in use by another labd process; the embedded SQLite store supports one replica (use PostgreSQL for several)", path)
	}
	return nil
}

// redact hides a password in a URL for error messages and logs.
func redact(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if at := strings.LastIndex(u, "@"); at > i {
			if c := strings.Index(u[i+3:at], ":"); c >= 0 {
				return u[:i+3+c] + ":***" + u[at:]
			}
		}
	}
	return u
}

// Close releases the connections and, for SQLite, the file lock.
func (db *DB) Close() error {
	var err error
	db.closeOnce.Do(func() {
		close(db.closed)
		if db.listenDone != nil {
			<-db.listenDone
		}
		if db.notifierDone != nil {
			<-db.notifierDone
		}
		if db.sqlDB != nil {
			err = db.sqlDB.Close()
		}
		if db.lock != nil {
			db.lock.Unlock()
		}
	})
	return err
}

// IsPostgres reports whether the store is PostgreSQL (the only one that
// supports several replicas).
func (db *DB) IsPostgres() bool { return db.postgres }

// PostgresURL returns the DSN, for tests that act on the store's
// database from outside (servertest.TerminatePostgresSessions). "" for
// SQLite.
func (db *DB) PostgresURL() string {
	if !db.postgres {
		return ""
	}
	return db.url
}

// Kind names the store for logs: "postgres" or "sqlite".
func (db *DB) Kind() string {
	if db.postgres {
		return "postgres"
	}
	return "sqlite"
}

// Ping checks that the database answers a query.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.g.WithContext(ctx).Raw("SELECT 1").Scan(&one).Error; err != nil {
		return classify(fmt.Errorf("ping database: %w", err))
	}
	return nil
}

// InTx runs fn in one transaction, committed when fn returns nil. Inside fn
// use only tx: on SQLite the store has one connection, so a call on db
// from inside fn would wait for ever.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	return db.inTx(ctx, nil, fn)
}

func (db *DB) inTx(ctx context.Context, opts *sql.TxOptions, fn func(tx *Tx) error) error {
	if !db.postgres {
		opts = nil // the SQLite driver knows no isolation levels; it is serializable anyway
	}
	var tx *Tx
	err := db.g.WithContext(ctx).Transaction(func(g *gorm.DB) error {
		tx = &Tx{db: db, g: g}
		return fn(tx)
	}, opts)
	if err != nil {
		return classify(err)
	}
	for _, f := range tx.afterCommit {
		f()
	}
	return nil
}
