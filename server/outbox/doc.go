// Package outbox tails the transactional outbox.
//
// # State model
//
// A Watcher has a name and a bookmark: the position of the last event it
// has handled, stored in the watcher_bookmarks row of that name. Watchers
// are independent: each has its own bookmark (the controller's, the
// CloudEvents sink's).
//
// Each batch is one transaction: lock the bookmark row (FOR UPDATE), read
// the events after it (store.Tx.ReadEvents, which never skips a row that
// commits late), run the handler with the same transaction, advance the
// bookmark, commit. A crash at any point rolls all of it back, so database
// effects of handling happen exactly once; effects outside the database
// (Docker, HTTP sinks) happen at least once and are made idempotent by the
// handler (deterministic container names, stable event ids).
//
// Wake-ups come from the store (LISTEN/NOTIFY on PostgreSQL, in-process on
// SQLite); they are hints only and a poll every PollInterval is the
// fallback, so a lost notification delays, never loses.
//
// A bookmark below the outbox floor (events pruned while the watcher was
// away) is not silently moved forward: OnExpired runs first, so the owner
// can relist (the controller resyncs every lab).
//
// The Pruner deletes events older than the retention window that every
// watcher has passed, and raises the floor past them.
package outbox
