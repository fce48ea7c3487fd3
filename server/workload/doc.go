// Package workload is the vocabulary the lab controller and the engines
// that run labs share: what a lab's workload is asked to be (Spec), what an
// engine reports about it (Status), the errors the controller branches on,
// and the labels by which an installation recognises its own workloads.
// It imports no engine and no store; the controller (server/reconcile)
// declares the Engine interface it needs in these terms, and an engine
// (server/docker today, a Kubernetes runtime next) implements it.
//
// # Names and idempotency
//
// A lab's workload is named Name(uid): the name is the idempotency key. An
// engine that finds a workload of that name when asked to start one adopts
// it if its labels say it is the same lab with the same spec (LabelSpecHash),
// and replaces it otherwise, so a controller that crashed between "create"
// and "record" never makes a second one.
//
// # State model
//
//	Pending  accepted, not running yet: being created, pulling its image,
//	         or (on a scheduler) waiting for a node; Reason and Message say
//	         why, when the engine says
//	Running  started (StartedAt is set); it may still be unready: an
//	         engine that probes the app itself says so in Readiness
//	Exited   ended for good: ExitCode, OOMKilled and Message say how; an
//	         engine never restarts a workload by itself, the controller
//	         judges what an exit means
//
// A workload the engine no longer has is ErrNotFound, not a state: on a
// scheduler, a workload whose node was lost is reported Exited with a
// Message (and ExitCode -1), or not found once the engine forgets it.
//
// # Change notifications
//
// An engine that watches its workloads (Kubernetes' informers) may also
// tell the controller which workload changed, by name, as it happens
// (reconcile.Notifier), so that the controller looks at the lab at once
// rather than at its next probe. A notification carries no state: the
// controller inspects the workload as always.
//
// # Errors
//
// ErrNotFound is an answer, not a failure. An error that wraps a *Failure
// (ErrImage today) is permanent: retrying cannot cure it, and the
// controller fails the lab with the Failure's reason. Any other engine
// error is transient: the controller retries with backoff, within the
// provisioning timeout.
//
// # Ours
//
// Every workload carries LabelManagedBy=ManagedBy and the installation id
// (one database, however many replicas); Ours tells this installation's
// workloads from another's on a shared engine, and from anything else
// running there. Only ours are ever removed.
package workload
