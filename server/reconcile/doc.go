// Package reconcile is the lab controller: it turns each LabInstanceRequest
// into a running workload (a Docker container or a Kubernetes pod),
// watches it, expires it, and cleans it up through a finalizer when the
// lab is deleted.
//
// The controller depends on its own port, Engine, declared here in the
// terms of package workload (Spec, Status, the permanent failures); the
// implementations are server/docker and server/kubernetes, and labd wires
// one of them in server.
//
// # State model
//
// Reconcile is level-based (controller-runtime style): a request carries
// only a key; Reconcile reads the lab and its workload and converges, so
// running it twice, late or after a crash is always safe. The decision is
// a pure function, plan, table-tested without a database or an engine; the
// rest of Reconcile gathers its inputs and carries out its step.
//
//	PENDING       waits for scheduled_start_time and for capacity: its
//	              resource_requests, first come first served against the
//	              engine's CPU and memory or the configured capacity, decided
//	              from the admission ledger (ledger.go); a lab that asks for
//	              more than the whole capacity, whose limits exceed the
//	              largest workload the engine can run, or whose image is not
//	              allowed fails at once. Admitted, its requests reserved
//	              (resource_allocation), it makes its workload and stays
//	              PENDING until the engine has placed it: at once on one
//	              Docker host; on a cluster once the scheduler has bound it
//	              to a node, the Scheduled condition saying meanwhile why
//	              not, in the scheduler's words (no timeout: it waits for
//	              capacity, as in labd's queue) → PROVISIONING
//	PROVISIONING  the workload starts (while the engine creates it or
//	              pulls its image, the Ready condition says so); once its
//	              app answers → RUNNING (container_id, started_at, endpoint,
//	              access_url). A workload without an app port (a batch
//	              lab) is RUNNING once started. While the app does not
//	              answer, the Ready condition says what the lab waits for.
//	              A permanent engine failure (image unavailable, request
//	              rejected as invalid), no start or no answer within
//	              ProvisionTimeout → FAILED
//	RUNNING       exit 0 → COMPLETED; non-zero exit, a kill, OOM or vanished
//	              → FAILED with that reason (an exit by a signal once the
//	              engine has settled it); stopped by an engine restart with
//	              time left → started again, still RUNNING, Interrupted
//	              condition; lost with its node or evicted → FAILED
//	              (NodeLost, Evicted); past duration_minutes → TIMEOUT; stop request
//	              → COMPLETED; unused through the gateway for
//	              idle_timeout_minutes (status.last_activity, else
//	              started_at) → a stop request recorded with reason Idle
//	              (annotations), then stopped → COMPLETED, reason Idle;
//	              recorded first so that the exit the stop causes is not
//	              judged a failure
//	TIMEOUT       stops the workload → COMPLETED (FAILED if stopping keeps
//	              failing)
//	COMPLETED,    the clean-up saves the workload's last 64 KiB of output in
//	FAILED        the store, then removes the workload; the student's
//	              workspace keeps the files
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
// The finalizer is added before any workload exists: every controller
// write of a live lab carries it, so a new lab's first write (its
// admission decision) adds it, and an admitted lab without it gets it
// before its workload is made. On deletion the
// workload is removed, its absence confirmed, and only then is the
// finalizer removed, with the finalized event, in one transaction.
//
// # Work queue and failure handling
//
// The Queue never runs one key twice at once, coalesces duplicates, backs
// off per key on errors (5 ms doubling to 5 min) and schedules time-based
// work (scheduled start, expiry, probes) with AddAfter. Keys come from the
// controller's outbox watcher (milliseconds after a change), from a
// periodic resync of every unsettled lab (an ended lab is settled; one
// whose workload is still there is queued by the garbage collector), and
// from the admission ledger, which wakes the head of the capacity queue
// when capacity is released or the head changes (a lab waiting in the
// queue is not polled). Work that unblocks others — the woken head, a
// start that ended, a lab that just moved one step (Result.Requeue) — goes
// ahead of the backlog (AddUrgent), so that a queue of thousands of labs
// does not delay it; labs woken only to refresh the place their condition
// states come a second later, coalesced, and those places are written in
// batches (places.go). The outbox event of a version the controller has
// already decided on does not queue the lab again (seen.go). Workload
// starts run off the workers, up to StartConcurrency at once (starts.go),
// and no reconcile acts on a lab while its start is in flight. A
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
// is read from the engine, where not configured, each time Run starts,
// recorded in the store (every replica reports it), and the admission
// ledger rebuilt from the store before any work starts; the watcher's
// bookmark then moves up to the position the rebuild reflects, as the
// term's first resync queues every unsettled lab anyway (skipReplay).
//
// A write that finds a newer leader term (api.EFENCED) stops the
// controller: this replica is no longer the leader. A write that
// conflicts (the lab changed since it was read) is decided again after
// the key's backoff, which grows while the conflict persists: never a hot
// loop. Engine events (Config.EngineEvents: a Docker engine's exits and
// removals, a Kubernetes engine's every pod change) queue the lab
// concerned at once, named by the workload's labels; the engine's return
// after an outage queues every lab with its backoff forgotten.
package reconcile
