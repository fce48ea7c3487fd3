// Package workload is the vocabulary the lab controller and the engines
// that run labs share: what a lab's workload is asked to be (Spec), what an
// engine reports about it (Status), the errors the controller branches on,
// and the labels by which an installation recognises its own workloads.
// It imports no engine and no store; the controller (server/reconcile)
// declares the Engine interface it needs in these terms, and an engine
// (server/docker, server/kubernetes) implements it.
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
//	         or (on a scheduler) waiting for a node, Unplaced; Reason and
//	         Message say why, when the engine says
//	Running  started (StartedAt is set); it may still be unready: an
//	         engine that probes the app itself says so in Readiness
//	Exited   ended for good: ExitCode, OOMKilled and Message say how, and
//	         Reason why when the engine knows (ReasonOOMKilled,
//	         ReasonKilled, ReasonEngineRestart); SettlesAt is when it will
//	         know for sure. An engine never restarts a workload by itself:
//	         the controller judges what an exit means, and asks Restart for
//	         one the engine itself stopped
//
// A workload the engine no longer has is ErrNotFound, not a state: on a
// scheduler, a workload whose node was lost is reported Exited with
// ReasonNodeLost (and ExitCode -1), or not found once the engine forgets
// it.
//
// # Events
//
// An engine reports changes to its workloads as they happen (Event: an
// exit, a removal, any change for an engine that watches its workloads,
// the engine's return after an outage), so that the controller looks at
// the lab concerned at once rather than at its next probe. An Event
// carries the workload's name and labels (namespace and name say which
// lab), not its state: the controller inspects the workload as always.
//
// # Errors
//
// ErrNotFound is an answer, not a failure. An error that wraps a *Failure
// (ErrImage, ErrRejected) is permanent: retrying cannot cure it, and the
// controller fails the lab with the Failure's reason. Any other engine
// error is transient: the controller retries with backoff, within the
// provisioning timeout.
//
// # Workspaces
//
// A student's workspace in a namespace is storage that outlives labs
// (Docker: a named volume; Kubernetes: a PersistentVolumeClaim), named
// WorkspaceName(installation, namespace, student) and labelled by
// WorkspaceLabels. A Spec's Workspace (a Mount) asks the engine to create
// it on first use and mount it; nothing removes it but RemoveWorkspace,
// which refuses (ErrInUse) while a workload mounts it. Requests in a Spec
// are what the controller reserved for the workload; Limits cap it.
//
// # Engine restarts
//
// An engine that goes away and comes back (a daemon restart, a lost
// connection) is an Outage; an engine reports one with an
// EventEngineRecovered Event, and reports the workloads it stopped in it
// as Exited with ReasonEngineRestart: the controller starts them again.
// A workload lost with its machine (ReasonNodeLost) is not an outage of
// the engine: its files and processes are gone, and its lab fails. Events
// are hints that make the controller look at once; it stays level-based.
//
// # Ours
//
// Every workload carries LabelManagedBy=ManagedBy and the installation id
// (one database, however many replicas); Ours tells this installation's
// workloads from another's on a shared engine, and from anything else
// running there. Only ours are ever removed.
package workload
