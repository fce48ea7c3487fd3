// Package eventsink delivers the transactional outbox as CloudEvents to HTTP
// sinks: every change of a lab and every controller event, at least once,
// in outbox order, to every configured sink.
//
// # Wiring
//
//	d, err := eventsink.New(db, eventsink.Config{Sinks: urls, Instance: instanceID, Logger: log, Metrics: m})
//	...
//	go d.Run(leaderCtx) // only while this replica leads; returns nil when leaderCtx ends
//
// # The events
//
// One outbox row is one CloudEvent (spec 1.0), sent in structured content
// mode: a POST whose body is the whole event as JSON, Content-Type
// application/cloudevents+json. Structured mode keeps attributes and data in
// one document, so a generic webhook that stores bodies keeps the id too,
// and no proxy can drop attributes carried in headers. Receivers built on a
// CloudEvents SDK accept it as they accept binary mode.
//
//   - id: "<installation id>-<outbox row id>" (EventID). The installation id
//     names the database (store.DB.InstallationID), so the id is the same on
//     every delivery of the row, from any replica and after any leader change.
//   - source: Config.Source, by default "/labd/<installation id>"; the same on
//     every replica, because consumers drop duplicates by source and id.
//   - type: the outbox event type (api.Event*), subject: "namespace/name",
//     time: when the change committed, datacontenttype: application/json.
//   - data: Data, {"object": <the lab as the change left it>, "message": "..."};
//     for a deletion the object is the lab's last state.
//   - extensions (strings, as CloudEvents integers are 32 bits):
//     resourceversion, position, labuid, partitionkey (= subject), and
//     labdinstance (the replica that delivered) when Config.Instance is set.
//
// # State model
//
// Each sink has an outbox bookmark (a row of watcher_bookmarks, listed by
// GET /api/status/bookmarks with its lag): the position up to which every
// event has been accepted by that sink. With one sink the bookmark is named
// "cloudevents". With several, each sink's is "cloudevents:<host[:port]/path>"
// (no scheme, user info or query: stable across credential rotation, never
// secret), and "cloudevents" is kept as the lowest of them: the position
// every sink has reached. So the "cloudevents" watcher always exists and
// says how far delivery has got everywhere.
//
// Each sink is followed by an outbox.Follower of its own, made with
// outbox.NewDeliverer (bookmark advanced after delivery): read the sink's
// bookmark in a short transaction, read the next batch of whole outbox
// transactions, POST the events one by one, in order, then advance the
// bookmark in another short transaction. No transaction is open during
// HTTP requests: on PostgreSQL an open transaction with an xid holds back
// the read horizon of every outbox reader (see store's doc). The bookmark
// is only ever moved forward, and only to the end of a transaction all of
// whose events were accepted. With several sinks the followers form an
// outbox.Group, which keeps "cloudevents" at the lowest of their bookmarks.
//
// A new bookmark starts at the current end of the outbox: an operator who
// adds a sink wants what happens from now on, not days of history, and a
// consumer that needs the past lists the labs. With several sinks a new
// sink's bookmark starts at "cloudevents" instead, which on a fresh
// database is the end too; this keeps the place of the sink that was
// alone before a second one was added (its bookmark was "cloudevents"), at
// the price of replaying what the slowest remaining sink lacks to the new
// one. Going back from several sinks to one, the remaining sink continues
// from "cloudevents", the lowest position of all sinks: duplicates, no loss.
//
// Wake-ups, the poll every PollInterval, the short waits while a still open
// older transaction keeps newer events unreadable, and the backoff after a
// database error (BackoffMin to BackoffMax) are the follower's: see the
// outbox package.
//
// # Failure handling
//
// Delivery is at least once. Any answer but 2xx, a timeout or a refused
// connection is a failure: the same event is retried after a backoff that
// doubles from BackoffMin to BackoffMax with jitter (longer if the sink
// sends Retry-After), until it is accepted or ctx ends. Nothing is skipped,
// not even an event a sink rejects with 4xx: the sink stays stuck on it,
// visibly (Metrics.Failed, Status, logs, and the lag of its bookmark), until
// the sink is fixed. Redirects are not followed (a POST would become a GET).
// Before each wait the bookmark is advanced past what was already
// delivered, and so it is when the dispatcher stops, so an outage or a
// leader change costs no duplicate delivery later.
//
// A sink that is down holds back only its own bookmark; the others go on.
// While its bookmark lags, store.PruneEvents keeps the events it has not
// received, so an outage of any length loses nothing (the outbox grows).
// A sink removed from the configuration leaves its bookmark behind, which
// then holds back pruning until it is deleted.
//
// A crash between a sink's 2xx and the bookmark write (or a stop whose
// save fails) delivers those events again, with the same id. Two dispatchers
// running at once (a leader change while the old leader has not noticed yet)
// both deliver: duplicates, possibly out of order for a moment, never
// losses, since each only moves a bookmark forward. Consumers drop
// duplicates by id and ignore an event whose resourceversion is not newer
// than the one they hold for that labuid.
//
// A bookmark found below the outbox floor (moved or restored by hand: the
// pruner never passes a bookmark) is logged as an error naming the sink,
// the bookmark's position and the floor, and moved up to the floor; then
// delivery goes on. The events in between no longer exist: no retry can
// deliver them, and stopping the sink for good would hold back every later
// event as well. The operator who sees the error tells consumers that
// cannot miss a change to list the labs again.
//
// Credentials are never logged: sinks appear as scheme://host/path, and
// transport errors are stripped of the URL that net/http puts in them.
package eventsink
