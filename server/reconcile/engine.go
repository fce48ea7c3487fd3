package reconcile

import (
	"context"
	"time"

	"github.com/labrm/terraform-provider-lab/server/workload"
)

// Engine is what the controller needs from whatever runs labs' workloads
// (server/docker and server/kubernetes implement it). It speaks
// of workloads by name, workload.Name(uid), the idempotency key, and in
// the terms of package workload; see its doc for the state model and
// which errors are permanent.
type Engine interface {
	// Ensure makes the workload spec.Name exist and run (or wait for a
	// place to run: Status.Unplaced). One already of that name is adopted
	// when its labels carry the same resource uid and spec hash, and
	// replaced otherwise; one that has exited is reported as it is, never
	// restarted. It need not wait for the workload to start: a Pending
	// status is asked again. An error wrapping a *workload.Failure
	// (workload.ErrImage, workload.ErrRejected) is permanent.
	Ensure(ctx context.Context, spec workload.Spec) (workload.Status, error)
	// Inspect reports a workload by name, or workload.ErrNotFound.
	Inspect(ctx context.Context, name string) (workload.Status, error)
	// Stop stops a workload: SIGTERM, SIGKILL after timeout. Not found is
	// success.
	Stop(ctx context.Context, name string, timeout time.Duration) error
	// Remove removes a workload, running or not. Not found, or a removal
	// already in progress, is success.
	Remove(ctx context.Context, name string) error
	// List reports every workload labelled managed-by=labd, of any
	// installation (workload.Ours tells them apart), in any state. Times
	// other than Created may be left zero.
	List(ctx context.Context) ([]workload.Status, error)
	// Logs returns the last lines of a workload's output (stdout and
	// stderr); lines <= 0 means all. workload.ErrNotFound if there is no
	// such workload.
	Logs(ctx context.Context, name string, lines int) (string, error)
	// ListWorkspaces reports every workspace (workload.KindWorkspace)
	// labelled managed-by=labd, of any installation. Ensure creates a
	// workspace on first use, when its Spec has a Workspace.
	ListWorkspaces(ctx context.Context) ([]workload.Workspace, error)
	// RemoveWorkspace removes a workspace and the files in it. Not found
	// is success; one that a workload still mounts is an error wrapping
	// workload.ErrInUse.
	RemoveWorkspace(ctx context.Context, name string) error
	// Restart starts again a workload the engine itself interrupted
	// (Status.Reason workload.ReasonEngineRestart): the same one, its
	// file system kept, where the engine still has it, else a new one
	// from spec (on the same workspace). One already running is reported
	// as it is.
	Restart(ctx context.Context, spec workload.Spec) (workload.Status, error)
	// Capacity is what the engine offers labs in total (a host's CPUs and
	// memory; a cluster's allocatable).
	Capacity(ctx context.Context) (workload.Resources, error)
	// Largest is the most one workload can ever be given (its limits): a
	// host's CPUs and memory; on a cluster, its largest node's
	// allocatable. A lab asking for more can never run.
	Largest(ctx context.Context) (workload.Resources, error)
	// Ping checks that the engine answers.
	Ping(ctx context.Context) error
}
