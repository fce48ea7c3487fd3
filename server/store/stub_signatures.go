package store

// TEMPORARY: signatures of the store, filled in by the store's author.
// Helpers code against these; the bodies are being written now.

import (
	"context"
	"log/slog"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// Config configures Open.
type Config struct {
	// URL selects the store: "" opens the embedded SQLite file DefaultSQLitePath;
	// "postgres://..." or "postgresql://..." opens PostgreSQL;
	// "sqlite:PATH" or "file:PATH" opens that SQLite file.
	URL    string
	Logger *slog.Logger
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
}

// DefaultSQLitePath is the embedded store's file when no URL is given.
const DefaultSQLitePath = "labd.db"

// DB is the store. Safe for concurrent use.
type DB struct{}

// Tx is a store transaction; see DB.InTx.
type Tx struct{}

func Open(ctx context.Context, cfg Config) (*DB, error)                 { panic("unimplemented") }
func (db *DB) Close() error                                            { panic("unimplemented") }
func (db *DB) IsPostgres() bool                                        { panic("unimplemented") }
func (db *DB) PostgresURL() string                                     { panic("unimplemented") }
func (db *DB) Ping(ctx context.Context) error                          { panic("unimplemented") }
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error   { panic("unimplemented") }
func (db *DB) CreateLab(ctx context.Context, l *api.LabInstanceRequest) (*api.LabInstanceRequest, error) {
	panic("unimplemented")
}
func (db *DB) GetLab(ctx context.Context, key api.Key) (*api.LabInstanceRequest, error) {
	panic("unimplemented")
}
func (db *DB) ListLabs(ctx context.Context, opts ListOptions) (*api.LabInstanceRequestList, error) {
	panic("unimplemented")
}
func (db *DB) UpdateLab(ctx context.Context, key api.Key, opts WriteOptions, mutate Mutator) (*api.LabInstanceRequest, error) {
	panic("unimplemented")
}
func (db *DB) UpdateLabWithRetry(ctx context.Context, key api.Key, opts WriteOptions, mutate Mutator) (*api.LabInstanceRequest, error) {
	panic("unimplemented")
}
func (db *DB) DeleteLab(ctx context.Context, key api.Key, opts WriteOptions) (*api.LabInstanceRequest, bool, error) {
	panic("unimplemented")
}
func (db *DB) AppendEvent(ctx context.Context, l *api.LabInstanceRequest, eventType, message string, opts WriteOptions) error {
	panic("unimplemented")
}
func (db *DB) LabHistory(ctx context.Context, key api.Key) (*api.LabEventList, error) {
	panic("unimplemented")
}
func (db *DB) ReadEvents(ctx context.Context, after int64, limit int) ([]Event, error) {
	panic("unimplemented")
}
func (db *DB) EventBounds(ctx context.Context) (floor, current int64, err error) { panic("unimplemented") }
