// Package reconcile is the lab controller: it turns each LabInstanceRequest
// into a running workload (a Docker container today), watches it, expires
// it, and cleans it up through a finalizer when the lab is deleted.
//
// The controller depends on its own port, Engine, declared here in the
// terms of package workload (Spec, Status, the permanent failures); the
// Docker implementation is server/docker, and labd wires it in server.
//
// # State model
//
// Reconcile is level-based (controller-runtime style): a request carries
// only a key; Reconcile reads the lab and its workload and converges, so
// running it twice, late or after a crash is always safe. The decision is
// a pure function, plan, table-tested without a database or an engine; the
// rest of Reconcile gathers its inputs and carries out its step.
//
//	PENDING       waits for scheduled_start_time and for capacity (first come
//	              first served against the engine's CPU and memory, or the
//	              configured capacity; a lab that asks for more than the
//	              whole capacity fails) → PROVISIONING
//	PROVISIONING  creates and starts the workload; once its app answers
//	              → RUNNING (container_id, started_at, endpoint,
//	              access_url). A workload without an app port (a batch
//	              lab) is RUNNING once started. While the app does not
//	              answer, the Ready condition says what the lab waits for.
//	              A permanent engine failure (image unavailable), no start
//	              or no answer within ProvisionTimeout → FAILED
//	RUNNING       exit 0 → COMPLETED; non-zero exit or vanished → FAILED;
//	              past duration_minutes → TIMEOUT; stop request → COMPLETED;
//	              unused through the gateway for idle_timeout_minutes
//	              (status.last_activity, else started_at) → a stop request
//	              recorded with reason Idle (annotations), then stopped →
//	              COMPLETED, reason Idle; recorded first so that the exit
//	              the stop causes is not judged a failure
//	TIMEOUT       stops the workload → COMPLETED (FAILED if stopping keeps
//	              failing)
//
// Readiness (ready.go): RUNNING means the student's URL works. An engine
// that probes apps itself reports workload.Status.Readiness; where it does
// not (Docker), Reconcile probes the workload's Endpoint, the address the
// gateway dials, before plan decides: a TCP connection, or an HTTP GET of
// readiness_path answered below 500.
//
// Every write is conditional on the version the decision was made on (a
// newer version means: decide again) and fenced by the leader epoch, and
// it records status.observed_generation and a reconciled event in the same
// transaction.
//
// The finalizer is added before any workload exists. On deletion the
// workload is removed, its absence confirmed, and only then is the
// finalizer removed, with the finalized event, in one transaction.
//
// # Work queue and failure handling
//
// The Queue never runs one key twice at once, coalesces duplicates, backs
// off per key on errors (5 ms doubling to 5 min) and schedules time-based
// work (scheduled start, expiry, probes) with AddAfter. Keys come from the
// controller's outbox watcher (milliseconds after a change), from a
// periodic resync of every lab, and from capacity being released. A
// watcher bookmark found below the outbox's retention floor cannot tell
// which changes it missed: every lab is queued, then the watcher continues
// from the floor.
//
// Engine effects cannot join a database transaction; they are idempotent
// instead: the workload name derives from the lab's uid (workload.Name),
// so a create retried after a crash adopts the workload an earlier attempt
// made. A garbage collector removes this installation's workloads
// (workload.Ours) whose lab no longer exists, after a grace period.
//
// Run runs the outbox watcher, the resync, the garbage collector and the
// workers as one group (internal/group): if one fails, the others stop and
// Run returns its error; leader election starts a new term. Reconciles in
// flight when Run stops are drained for up to DrainTimeout. The capacity
// is read from the engine, where not configured, each time Run starts.
//
// A write that finds a newer leader term (api.EFENCED) stops the
// controller: this replica is no longer the leader.
package reconcile
