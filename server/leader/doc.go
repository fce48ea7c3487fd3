// Package leader elects the one labd replica that reconciles.
//
// # State model
//
// A replica is a standby or the leader. On PostgreSQL, leadership is the
// store's lock session (store.LockSession): a session-level advisory lock
// on a dedicated connection, whose heartbeat checks that the backend that
// took the lock still holds it. This package holds no SQL; it decides when
// to try for the lock, how long to trust a failing heartbeat, and what to
// do when leadership ends:
//
//	standby --Lock granted, StartTerm--> leader
//	leader  --ctx done--> stop work, Unlock, return
//	leader  --lock lost, renew deadline passed, work failed or fenced-->
//	        stop work, Unlock, close the session, wait a lease, standby
//
// Each acquisition starts a new term: the epoch in the leader_term row is
// bumped, and every write the controller makes checks that epoch in its
// own transaction (SELECT ... FOR SHARE, see store.Tx.CheckFence), so a
// deposed leader that has not noticed yet can never write. Containers carry
// the epoch in a label.
//
// # What the design document's settings mean for an advisory lock
//
//   - lease_duration (15s): how long a silent leader keeps leadership. It is
//     the lock session's idle_session_timeout: a leader that stops talking
//     (paused process, half-open TCP) has its session ended by the server,
//     which frees the lock for a standby. TCP keepalives on the session
//     catch a dead peer too.
//   - renew_deadline (10s): how long a leader keeps working without a
//     successful heartbeat. After that it stops all leader work, closes the
//     lock session (freeing the lock if the server still has it) and goes
//     back to standby. It is shorter than the lease so that the old leader
//     stops before the server can hand the lock to someone else.
//   - retry_period (2s): how often the leader heartbeats. A standby does not
//     poll: it waits in the server's queue for the lock (a blocking
//     pg_advisory_lock on its lock session, store.LockSession.Lock), which
//     the server grants the moment the holder releases it (graceful
//     shutdown) or its session ends (a crashed leader's connection closes;
//     a silent one's idle_session_timeout fires). A session running a
//     query is not idle, so waiting does not count against the standby's
//     own idle_session_timeout. Each wait is bounded by a lease so that a
//     dead standby connection is noticed; shutting down cancels it.
//
// Fencing is unchanged by how fast a standby takes the lock: its term
// starts with StartTerm, which waits for every write still holding the
// old epoch FOR SHARE, and a deposed leader's later writes are refused. A
// standby whose process is frozen while it waits can be granted the lock
// without knowing; its session then idles and the server ends it after a
// lease, which frees the lock for the next standby.
//
// client-go's rule lease > renew > 1.2 × retry is enforced.
//
// The lock session needs a direct (or pgbouncer session-mode) connection:
// transaction pooling cannot hold session locks.
//
// On the embedded SQLite store there is one replica, which is always the
// leader; the store's file lock keeps a second process out.
package leader
