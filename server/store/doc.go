// Package store keeps lab instances, the transactional outbox, watcher
// bookmarks, leader terms and the leader lock, in PostgreSQL (production,
// several replicas) or an embedded SQLite file (one replica). It is the
// only package that holds SQL or imports GORM or pgx; internal/archtest
// checks that.
//
// # Versions and positions
//
// Every write transaction has a position. A lab's metadata.resource_version
// is the position of the transaction that last wrote it, and every outbox
// row carries its transaction's position, so one number answers both "which
// version is this?" and "which changes came after it?".
//
// On SQLite writers are serialised, so a counter bumped once per write
// transaction gives positions in commit order.
//
// On PostgreSQL a position is the writing transaction's id (xid8) plus a
// base. Transaction ids are taken when a transaction first writes, not when
// it commits, so a reader that remembered "last seen N" would skip for ever
// a row N-1 that commits after N. Readers therefore read, in one statement,
// only rows below the horizon pg_snapshot_xmin(pg_current_snapshot()):
// every transaction below it has ended, so nothing below it can still
// appear. A long transaction delays readers; it never makes them lose a
// row. Outbox reads return whole transactions so that a position is a
// complete bookmark.
//
// A lab's versions grow in the order its writes commit because every write
// is optimistic (UPDATE ... WHERE resource_version = the version read) and
// the lab row is the transaction's first write: a write that succeeds read
// its predecessor after that one committed, so it took its transaction id
// later. Writes fenced by a leader epoch check the epoch after the lab row
// for the same reason.
//
// A dump and restore into a new cluster starts transaction ids again from
// small numbers; at start-up the base moves up past every stored position
// so positions never go backwards.
//
// A list's resource_version is the position just below the oldest
// transaction running when its snapshot was taken: a watch from there sees
// every change the list missed, and possibly a few it already reflects, so
// watch consumers must be idempotent (they are level-based anyway).
//
// # Write path and notifications
//
// A write encodes its object once, for the row and its outbox event (the
// stored JSON has no resource_version: the columns hold it, and decoding
// sets it from them). On PostgreSQL a create is one statement (write.go),
// so a create outside a caller's transaction is one round trip. Readers of
// other replicas are woken by a NOTIFY sent after the commit, one for each
// burst of writes (notify.go): a pg_notify inside every write transaction
// serialised commits on the notification queue's lock.
//
// # Leader lock
//
// A LockSession (DB.OpenLockSession) is a session-level advisory lock on a
// dedicated pgx connection outside the GORM pool: a pooled connection could
// go back to the pool still holding the lock, and database/sql reconnects
// silently, hiding a lost lock. Lock (a bounded wait in the server's lock
// queue, granted the moment the lock is freed) and TryLock record the
// backend pid; Heartbeat
// checks that the same backend answers and still holds the lock, and fails
// with ErrLockLost otherwise. The session's idle_session_timeout and TCP
// keepalives make the server end a silent holder's session, which frees
// the lock. DB.LockHeld tells whether anyone holds it. When to try, how
// long to trust a failing heartbeat and what to do on loss is the
// election's business (package leader); Term, StartTerm and CheckFence
// (term.go) fence the writes of a deposed leader.
//
// # Test hooks
//
// Tx has no raw SQL methods. Tests that must inspect the database or set
// up states the typed methods cannot reach use package storetest, which
// only test files may import (internal/archtest checks that).
//
// # Failure handling
//
// Each DB method is one transaction; Tx gives the same methods inside a
// caller's transaction (outbox watchers advance their bookmark in the same
// transaction as their database effects). Conflicts are api.ECONFLICT and
// change nothing; UpdateLabWithRetry re-reads and re-applies a mutation a
// bounded number of times. Writes under a leader epoch that is no longer
// current fail with api.EFENCED and change nothing.
package store
