package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
)

func openSession(t *testing.T, db *store.DB, cfg store.LockSessionConfig) *store.LockSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := db.OpenLockSession(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func tryLock(t *testing.T, s *store.LockSession) bool {
	t.Helper()
	got, err := s.TryLock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func lockHeld(t *testing.T, db *store.DB, name string) bool {
	t.Helper()
	held, err := db.LockHeld(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return held
}

func TestLockSessionExclusive(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.Postgres)
	ctx := context.Background()
	a := openSession(t, db, store.LockSessionConfig{Name: "election", Identity: "a"})
	b := openSession(t, db, store.LockSessionConfig{Name: "election", Identity: "b"})
	other := openSession(t, db, store.LockSessionConfig{Name: "another election", Identity: "c"})

	if lockHeld(t, db, "election") {
		t.Fatal("lock held before anyone took it")
	}
	if !tryLock(t, a) || !a.Held() || a.PID() == 0 {
		t.Fatalf("a could not take a free lock (held %v, pid %d)", a.Held(), a.PID())
	}
	if tryLock(t, b) || b.Held() {
		t.Fatal("b took a lock a holds")
	}
	if !tryLock(t, other) {
		t.Fatal("a lock of another name is taken too")
	}
	if !lockHeld(t, db, "election") {
		t.Fatal("LockHeld = false while a holds the lock")
	}
	if err := a.Heartbeat(ctx); err != nil {
		t.Fatalf("heartbeat of the holder: %v", err)
	}
	if err := b.Heartbeat(ctx); !errors.Is(err, store.ErrLockLost) {
		t.Fatalf("heartbeat of a session that never took the lock: %v, want ErrLockLost", err)
	}
	if err := a.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if a.Held() || lockHeld(t, db, "election") {
		t.Fatal("lock still held after Unlock")
	}
	if !tryLock(t, b) {
		t.Fatal("b could not take the released lock")
	}
}

func TestLockSessionNeedsPostgres(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.SQLite)
	if _, err := db.OpenLockSession(context.Background(), store.LockSessionConfig{Name: "x"}); err == nil || !strings.Contains(err.Error(), "PostgreSQL") {
		t.Fatalf("OpenLockSession on SQLite: %v, want an error naming PostgreSQL", err)
	}
	if _, err := db.LockHeld(context.Background(), "x"); err == nil {
		t.Fatal("LockHeld on SQLite: no error")
	}
}

// TestLockSessionLostWhenBackendTerminated: when the server ends the
// session, the lock is free for others and the holder's heartbeat says so.
func TestLockSessionLostWhenBackendTerminated(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.Postgres)
	a := openSession(t, db, store.LockSessionConfig{Name: "election", Identity: "doomed"})
	b := openSession(t, db, store.LockSessionConfig{Name: "election", Identity: "standby"})
	if !tryLock(t, a) {
		t.Fatal("a could not take a free lock")
	}
	if n := servertest.TerminatePostgresSessions(t, db.PostgresURL(), "labd-leader:doomed"); n != 1 {
		t.Fatalf("terminated %d sessions, want 1", n)
	}
	servertest.Eventually(t, "the standby to take the lock", 10*time.Second, func() bool { return tryLock(t, b) })
	if err := a.Heartbeat(context.Background()); !errors.Is(err, store.ErrLockLost) {
		t.Fatalf("heartbeat after the session ended: %v, want ErrLockLost", err)
	}
	if a.Held() {
		t.Fatal("Held after a lost heartbeat")
	}
}

// TestLockSessionPIDCheck: a connection that silently reconnected talks to
// a new session. Even if that session holds the lock too (it took it after
// the old one died), the lock was lost in between and the heartbeat must
// say so: that is what the backend pid check is for.
func TestLockSessionPIDCheck(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.Postgres)
	ctx := context.Background()
	for _, relock := range []bool{false, true} {
		s := openSession(t, db, store.LockSessionConfig{Name: "election", Identity: "reconnecting"})
		if !tryLock(t, s) {
			t.Fatal("could not take a free lock")
		}
		pid := s.PID()
		if err := store.ReconnectForTest(ctx, s, relock); err != nil {
			t.Fatal(err)
		}
		if relock && !lockHeld(t, db, "election") {
			t.Fatal("the new session does not hold the lock")
		}
		err := s.Heartbeat(ctx)
		if !errors.Is(err, store.ErrLockLost) {
			t.Fatalf("relock=%v: heartbeat on a new session: %v, want ErrLockLost", relock, err)
		}
		if relock && !strings.Contains(err.Error(), "held true") {
			t.Fatalf("relock=%v: %v, want the pid check to be what failed", relock, err)
		}
		t.Logf("relock=%v: pid %d: %v", relock, pid, err)
		s.Close(ctx)
		servertest.Eventually(t, "the lock to be free", 10*time.Second, func() bool { return !lockHeld(t, db, "election") })
	}
}

// TestLockSessionIdleTimeout: a holder that stops talking (a paused
// process, a half-open connection) loses its session, and the lock, after
// the idle timeout.
func TestLockSessionIdleTimeout(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.Postgres)
	const idle = 500 * time.Millisecond
	silent := openSession(t, db, store.LockSessionConfig{Name: "election", Identity: "silent", IdleTimeout: idle, Keepalive: time.Second})
	standby := openSession(t, db, store.LockSessionConfig{Name: "election", Identity: "standby"})
	if !tryLock(t, silent) {
		t.Fatal("could not take a free lock")
	}
	took := servertest.Eventually(t, "the standby to take the lock", 10*time.Second, func() bool { return tryLock(t, standby) })
	if took < idle-50*time.Millisecond {
		t.Fatalf("the standby took the lock after %s, before the %s idle timeout", took, idle)
	}
	if err := silent.Heartbeat(context.Background()); !errors.Is(err, store.ErrLockLost) {
		t.Fatalf("heartbeat after the idle timeout: %v, want ErrLockLost", err)
	}
}
