package store

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// Availability errors.
//
// An error that says the database cannot take work now — it cannot be
// reached, it is shutting down or starting up, it has no connection slot
// or disk left, a SQLite file stays locked beyond the busy timeout — is
// not a bug and not the caller's fault: a retry after a while succeeds.
// The store classifies it once, here, as api.EUNAVAILABLE (503 with
// Retry-After at the API; "retry later" to the controller), keeping the
// driver's error as the cause for logs. Every DB method runs through
// inTx, which classifies what it returns; Ping and the statements run
// without GORM or outside a transaction (DB.translate) do the same.

// UnavailableError is an availability error: Unwrap yields the
// api.EUNAVAILABLE *api.Error (safe to show) and the driver's cause.
type UnavailableError struct {
	api   *api.Error
	Cause error
}

func (e *UnavailableError) Error() string   { return e.api.Message + ": " + e.Cause.Error() }
func (e *UnavailableError) Unwrap() []error { return []error{e.api, e.Cause} }

// classify returns err as an *UnavailableError when it is an availability
// error, and unchanged otherwise (nil, an *api.Error the store made, a
// cancelled context, a bug).
func classify(err error) error {
	if err == nil {
		return nil
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		return err
	}
	why := unavailable(err)
	if why == "" {
		return err
	}
	return &UnavailableError{api: api.Errorf(api.EUNAVAILABLE, "the database %s; retry later", why), Cause: err}
}

// unavailable says why err means the database cannot take work now, or ""
// when it does not.
func unavailable(err error) string {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch {
		case strings.HasPrefix(pg.Code, "08"): // connection exception
			return "connection failed"
		case pg.Code == "57P01", pg.Code == "57P02": // admin_shutdown, crash_shutdown
			return "is shutting down"
		case pg.Code == "57P03": // cannot_connect_now: starting up or in recovery
			return "is starting up"
		case pg.Code == "53300": // too_many_connections
			return "has no free connection slot"
		case strings.HasPrefix(pg.Code, "53"): // insufficient resources: disk full, out of memory
			return "is out of resources"
		case pg.Code == "25006": // read_only_sql_transaction: a standby, after a failover
			return "is read-only (a standby)"
		}
		return "" // any other server error is an answer, not an outage
	}
	var sq interface{ Code() int }
	if errors.As(err, &sq) {
		switch sq.Code() & 0xff { // primary result code
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED: still locked after the busy timeout
			return "is busy"
		case 13: // SQLITE_FULL
			return "is out of disk space"
		}
		return ""
	}
	var connect *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connect):
		return "cannot be reached"
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ETIMEDOUT), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "cannot be reached"
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection was lost"
	case errors.As(err, &netErr):
		return "cannot be reached"
	case strings.Contains(err.Error(), "conn closed"), strings.Contains(err.Error(), "failed to receive message"):
		// pgx's own words for a connection that died mid-statement.
		return "connection was lost"
	}
	return ""
}
