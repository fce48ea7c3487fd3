package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// sqliteErr has the shape of the SQLite driver's error: a result code.
type sqliteErr int

func (e sqliteErr) Error() string { return fmt.Sprintf("sqlite error %d", int(e)) }
func (e sqliteErr) Code() int     { return int(e) }

func TestClassify(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{}}
	for _, tc := range []struct {
		name        string
		err         error
		unavailable bool
	}{
		{"admin shutdown", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, true},
		{"crash shutdown", &pgconn.PgError{Code: "57P02"}, true},
		{"starting up", &pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"disk full", &pgconn.PgError{Code: "53100"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"read-only standby", &pgconn.PgError{Code: "25006"}, true},
		{"connect error", &pgconn.ConnectError{}, true},
		{"connection refused", fmt.Errorf("get lab: %w", syscall.ECONNREFUSED), true},
		{"connection reset", fmt.Errorf("x: %w", syscall.ECONNRESET), true},
		{"bad conn", driver.ErrBadConn, true},
		{"net error", refused, true},
		{"pgx conn closed", errors.New("conn closed"), true},
		{"sqlite busy", sqliteErr(5), true},
		{"sqlite busy snapshot (extended)", sqliteErr(517), true},
		{"sqlite locked", sqliteErr(6), true},
		{"sqlite full", sqliteErr(13), true},
		{"sqlite constraint", sqliteErr(19), false},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"syntax error (a bug)", &pgconn.PgError{Code: "42601"}, false},
		{"serialization failure", &pgconn.PgError{Code: "40001"}, false},
		{"cancelled by the caller", context.Canceled, false},
		{"a plain bug", errors.New("decode lab: unexpected end of JSON input"), false},
		{"an answer of ours", api.Errorf(api.ECONFLICT, "stale"), false},
	} {
		err := classify(fmt.Errorf("wrapped: %w", tc.err))
		got := api.ErrorCode(err) == api.EUNAVAILABLE
		if got != tc.unavailable {
			t.Errorf("%s: classified %v (code %q), want unavailable=%v", tc.name, err, api.ErrorCode(err), tc.unavailable)
			continue
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: the cause is lost: %v", tc.name, err)
		}
		if got && api.ErrorMessage(err) == "internal error" {
			t.Errorf("%s: no safe message", tc.name)
		}
	}
	if classify(nil) != nil {
		t.Fatal("classify(nil) != nil")
	}
	if c := api.ErrorCode(classify(api.Errorf(api.ENOTFOUND, "x"))); c != api.ENOTFOUND {
		t.Fatalf("an *api.Error changed code: %s", c)
	}
}
