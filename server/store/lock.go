package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// LockSessionConfig configures OpenLockSession.
type LockSessionConfig struct {
	// Name names the lock; replicas that use the same name compete for the
	// same lock. The advisory lock key is derived from it.
	Name string
	// Identity shows in pg_stat_activity as application_name
	// "labd-leader:<Identity>", so an operator sees who holds the lock.
	Identity string
	// IdleTimeout is the session's idle_session_timeout: the server ends
	// a session silent this long (a paused process, a half-open TCP
	// connection), which frees the lock. The holder must Heartbeat more
	// often. Zero leaves the server's setting.
	IdleTimeout time.Duration
	// Keepalive is the TCP keepalive idle time and probe interval (whole
	// seconds, at least one); three lost probes end the session. Zero
	// leaves the server's settings.
	Keepalive time.Duration
	// LockWait bounds one Lock call's wait (the session's lock_timeout),
	// so that a standby's session answers now and then and a dead
	// connection is noticed. Zero means one minute.
	LockWait time.Duration
}

// ErrLockLost means a LockSession no longer holds its lock: the session
// died, or the connection now talks to another session than the one that
// took the lock.
var ErrLockLost = errors.New("lock session no longer holds the lock")

// errNoLockSession: lock sessions are advisory locks, which SQLite lacks.
var errNoLockSession = errors.New("lock sessions need PostgreSQL (the embedded SQLite store has one replica)")

// lockClass is the first half of the two-key advisory lock, so our locks
// cannot collide with single-key locks other software takes.
const lockClass int32 = 0x6c6162 // "lab"

// lockKey is the second half of the two-key advisory lock. Replicas of
// different versions must derive the same key from a name.
func lockKey(name string) int32 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return int32(h.Sum32() & 0x7fffffff)
}

// appNamePrefix starts the lock session's application_name.
const appNamePrefix = "labd-leader:"

// LockSession is a session-level PostgreSQL advisory lock on a dedicated
// connection outside the pool. A pooled connection would go back to the
// pool still holding the lock, and database/sql reconnects silently, which
// would hide a lost lock; so the session is one pgx.Conn, and the backend
// pid recorded when the lock was taken is checked by every Heartbeat.
//
// A LockSession is used by one goroutine at a time.
type LockSession struct {
	conn *pgx.Conn
	key  int32
	pid  int32 // backend that took the lock; 0 while not held
}

// OpenLockSession connects the dedicated session. It does not take the
// lock: see TryLock. ctx bounds the connect only.
func (db *DB) OpenLockSession(ctx context.Context, cfg LockSessionConfig) (*LockSession, error) {
	if !db.postgres {
		return nil, errNoLockSession
	}
	pcfg, err := pgx.ParseConfig(db.url)
	if err != nil {
		return nil, fmt.Errorf("lock session: %w", err)
	}
	pcfg.RuntimeParams["application_name"] = truncate(appNamePrefix+cfg.Identity, 63)
	if cfg.IdleTimeout > 0 {
		pcfg.RuntimeParams["idle_session_timeout"] = strconv.FormatInt(cfg.IdleTimeout.Milliseconds(), 10)
	}
	// A wait in Lock ends after LockWait, never earlier: a server-wide
	// statement_timeout must not cut it short either.
	pcfg.RuntimeParams["lock_timeout"] = strconv.FormatInt(cmp.Or(cfg.LockWait, time.Minute).Milliseconds(), 10)
	pcfg.RuntimeParams["statement_timeout"] = "0"
	if cfg.Keepalive > 0 {
		secs := strconv.FormatInt(int64(max(cfg.Keepalive/time.Second, 1)), 10)
		pcfg.RuntimeParams["tcp_keepalives_idle"] = secs
		pcfg.RuntimeParams["tcp_keepalives_interval"] = secs
		pcfg.RuntimeParams["tcp_keepalives_count"] = "3"
	}
	conn, err := pgx.ConnectConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("connect lock session: %w", err)
	}
	return &LockSession{conn: conn, key: lockKey(cfg.Name)}, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// TryLock takes the lock if no other session holds it, without waiting,
// and records the backend pid that took it.
func (s *LockSession) TryLock(ctx context.Context) (bool, error) {
	var got bool
	var pid int32
	err := s.conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, $2), pg_backend_pid()", lockClass, s.key).Scan(&got, &pid)
	if err != nil {
		return false, fmt.Errorf("try lock: %w", err)
	}
	if got {
		s.pid = pid
	}
	return got, nil
}

// Lock waits for the lock and records the backend pid that took it. The
// server grants it the moment the holder releases it or its session ends
// (a crashed leader's connection closing, or idle_session_timeout ending a
// silent one), so a standby waiting here takes over at once rather than at
// its next try. A session running a query is not idle: waiting does not
// count against idle_session_timeout. The wait ends without the lock
// (false, nil) after the session's LockWait, so that the caller can check
// the session and wait again; cancelling ctx ends it with ctx's error and
// closes the connection (pgx cannot interrupt a query otherwise).
func (s *LockSession) Lock(ctx context.Context) (bool, error) {
	_, err := s.conn.Exec(ctx, "SELECT pg_advisory_lock($1, $2)", lockClass, s.key)
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == "55P03" { // lock_not_available
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("wait for lock: %w", err)
	}
	s.pid = int32(s.conn.PgConn().PID()) // this connection's backend: it never reconnects
	return true, nil
}

// Heartbeat checks that the session that took the lock is the one that
// answers and that it still holds the lock; it fails with ErrLockLost if
// not. Its query also keeps the session from idling out. Any other error
// (a timeout, say) leaves the question open: the caller decides how long
// it keeps trusting the lock.
func (s *LockSession) Heartbeat(ctx context.Context) error {
	if s.pid == 0 {
		return fmt.Errorf("%w: not taken", ErrLockLost)
	}
	var pid int32
	var held bool
	err := s.conn.QueryRow(ctx, `SELECT pg_backend_pid(), EXISTS (
		SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()
		AND classid = $1::int::oid AND objid = $2::int::oid AND objsubid = 2)`, lockClass, s.key).Scan(&pid, &held)
	if err != nil {
		if s.conn.IsClosed() {
			s.pid = 0
			return fmt.Errorf("%w: %v", ErrLockLost, err)
		}
		return fmt.Errorf("lock heartbeat: %w", err)
	}
	if pid != s.pid || !held {
		lost := fmt.Errorf("%w (pid %d, now %d, held %v)", ErrLockLost, s.pid, pid, held)
		s.pid = 0
		return lost
	}
	return nil
}

// Held reports whether the session believes it holds the lock: it took it
// and has neither released it nor seen it lost. Only Heartbeat asks the
// server.
func (s *LockSession) Held() bool { return s.pid != 0 }

// PID is the backend pid that took the lock (0 while not held), for logs
// and for tests that end that backend.
func (s *LockSession) PID() int32 { return s.pid }

// Unlock releases the lock so that another session can take it at once,
// rather than when the server notices this one is gone.
func (s *LockSession) Unlock(ctx context.Context) error {
	s.pid = 0
	var released bool
	if err := s.conn.QueryRow(ctx, "SELECT pg_advisory_unlock($1, $2)", lockClass, s.key).Scan(&released); err != nil {
		return fmt.Errorf("unlock: %w", err)
	}
	if !released {
		return errors.New("unlock: the session did not hold the lock")
	}
	return nil
}

// Close ends the session, which frees the lock if the server still has
// it.
func (s *LockSession) Close(ctx context.Context) error {
	s.pid = 0
	return s.conn.Close(ctx)
}

// LockHeld reports whether any session of this database holds the named
// lock (GET /api/status/leader). PostgreSQL only.
func (db *DB) LockHeld(ctx context.Context, name string) (bool, error) {
	if !db.postgres {
		return false, errNoLockSession
	}
	var held bool
	err := db.g.WithContext(ctx).Raw(`SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND classid = ?::int::oid AND objid = ?::int::oid AND objsubid = 2)`, lockClass, lockKey(name)).Scan(&held).Error
	if err != nil {
		return false, classify(fmt.Errorf("read lock holder: %w", err))
	}
	return held, nil
}
