// Package outbox follows the transactional outbox: one loop, the Follower,
// reads it from a position for every consumer (the controller, the
// CloudEvents sinks, the HTTP watch streams), and the Pruner deletes what
// every bookmark has passed.
//
// # Following
//
// A Follower reads batches of whole outbox transactions after its position
// (store.Tx.ReadEvents, which never skips a row that commits late), hands
// them to its handler in order, and waits for more. Wake-ups come from the
// store (LISTEN/NOTIFY on PostgreSQL, in-process on SQLite); they are hints
// only, and a poll every PollInterval is the fallback, so a lost
// notification delays, never loses. When newer events exist but an older
// transaction, still open, keeps them unreadable, it looks again after a
// short wait that doubles up to PollInterval (the "settle"), rather than
// at the next poll. Errors are retried after a jittered backoff
// (wait.Backoff). Run returns when its context ends.
//
// # Bookmark policies
//
// Where the position is kept is the caller's choice, one constructor each:
//
//   - NewWatcher: the bookmark (a row of watcher_bookmarks) advances in the
//     handler's transaction. Each batch is one transaction: lock the
//     bookmark (FOR UPDATE), read, run the handler with the same
//     transaction, advance, commit. A crash at any point rolls all of it
//     back, so the handler's database effects happen exactly once. The
//     controller uses it.
//   - NewDeliverer: the bookmark advances after delivery. The batch is read
//     after a short transaction that reads the bookmark, events are
//     delivered one by one with no transaction open (on PostgreSQL an open
//     transaction holds back every outbox reader), and the bookmark is then
//     saved in another short one, only ever forward and only to the end of
//     a transaction all of whose events were delivered. Progress is also
//     saved before a long wait (the checkpoint a DeliverFunc calls before a
//     retry's backoff) and when the follower stops, so a stop or an outage
//     costs no duplicate; a crash between a delivery and the save delivers
//     again (at least once). A Group keeps one more bookmark at the lowest
//     position of its members. The CloudEvents sinks use it.
//   - NewReader: no bookmark. The position lives in memory (Position) and
//     moves past a batch once the handler has taken it; the caller, who
//     holds the position, restarts from there. Errors end Run instead of
//     being retried: the caller decides. The watch streams use it, their
//     clients holding the position.
//
// Effects outside the database (Docker, HTTP sinks, a client) happen at
// least once with a bookmark, and are made idempotent by their owners
// (deterministic container names, stable event ids, resource versions).
//
// # Below the retention floor
//
// A position below the outbox floor means events after it may have been
// pruned, so the follower cannot know what it missed: it finds this as an
// *ExpiredError (errors.Is(err, ErrExpired)) and never moves on silently.
// For a reader without a bookmark the floor is read after the events, so a
// prune that overtook it while it read is caught and the batch dropped.
// What happens next is Config.OnExpired's decision, taken outside any
// transaction; once it returns nil the follower continues from the floor
// (a crash in between runs it again). Without OnExpired, Run stops and
// returns the *ExpiredError. Each user decides once:
//
//   - controller: relist every lab, then continue from the floor;
//   - CloudEvents sink: log an error naming both positions and continue
//     from the floor — the events in between no longer exist, and a sink
//     stuck for ever would not bring them back (see eventsink);
//   - watch stream: 410 Gone when a watch starts below the floor
//     (CheckPosition); a stream overtaken by retention ends, so that the
//     client's re-watch from its last position gets 410 and relists.
//
// The pruner never passes a bookmark, so for a watcher or a sink this only
// happens with a bookmark moved or restored by hand.
//
// # Pruning
//
// The Pruner deletes events older than the retention window that every
// bookmark has passed, and raises the floor past them.
package outbox
