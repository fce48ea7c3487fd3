package workload

import (
	"fmt"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// Labels put on every workload; the garbage collector and adoption read
// them back.
const (
	LabelManagedBy    = "managed-by"
	LabelResourceUID  = "resource-uid"
	LabelNamespace    = "namespace"
	LabelName         = "name"
	LabelLeaderEpoch  = "leader-epoch"
	LabelSpecHash     = "spec-hash"
	LabelInstallation = "installation"

	// ManagedBy is the value of LabelManagedBy on our workloads.
	ManagedBy = "labd"
)

// Name is the name of the workload of the lab with this uid. Derived from
// the uid, it is the idempotency key that lets a retried start adopt what
// an earlier one made; it is also a valid DNS-1123 label (a pod name).
func Name(uid string) string { return "lab-" + uid }

// Ours reports whether labels mark a workload as made by this
// installation: managed by labd and carrying installation's id. Another
// installation's workloads on a shared engine are never touched.
func Ours(labels map[string]string, installation string) bool {
	return labels[LabelManagedBy] == ManagedBy && labels[LabelInstallation] == installation
}

// Resources is an amount of CPU and memory: what a workload is limited to,
// what a lab reserves, what an engine offers in total.
type Resources struct {
	MilliCPU    int64
	MemoryBytes int64
}

// Fits reports whether r fits within in.
func (r Resources) Fits(in Resources) bool {
	return r.MilliCPU <= in.MilliCPU && r.MemoryBytes <= in.MemoryBytes
}

// Sub is r less o.
func (r Resources) Sub(o Resources) Resources {
	return Resources{r.MilliCPU - o.MilliCPU, r.MemoryBytes - o.MemoryBytes}
}

func (r Resources) String() string {
	return fmt.Sprintf("cpu %s, memory %s", api.FormatCPU(r.MilliCPU), api.FormatMemory(r.MemoryBytes))
}

// Spec is the workload a lab asks for. Fields are engine-neutral; each
// engine maps them onto its own (Docker: NanoCPUs, Memory, PidsLimit).
type Spec struct {
	Name   string // Name(uid)
	Image  string
	Env    map[string]string
	Labels map[string]string // includes the Label* keys above
	// Limits caps what the workload may use (Docker: NanoCPUs, Memory).
	Limits Resources
	// Requests is what the controller reserved for it at admission; an
	// engine with a scheduler of its own reserves it too (Kubernetes:
	// requests), Docker has no use for it.
	Requests Resources
	// Workspace, when set, is the student's workspace to mount (created
	// on first use, never removed with the workload).
	Workspace   *Mount
	PidsLimit   int64 // 0: the engine's default
	StopTimeout time.Duration
	// RunAsUser runs the workload's processes as this numeric user id;
	// nil leaves it to the engine's default (the image's user unless the
	// installation names one).
	RunAsUser *int64
	// ReadOnlyRootFilesystem makes the image's file system read-only;
	// /tmp and the workspace stay writable. False leaves it to the
	// engine's default.
	ReadOnlyRootFilesystem bool

	// Command and Args override the image's entrypoint and command, as in
	// Kubernetes: Command alone runs without the image's command; Args
	// alone run with the image's entrypoint. Nil keeps the image's.
	Command []string
	Args    []string
	// Port is the app's TCP port; 0 means the image's only exposed TCP
	// port, and a workload with neither has no app to reach (a batch lab).
	Port int
	// ReadinessPath is an HTTP path that answers below 500 once the app is
	// ready; "" means a TCP connect is enough. An engine that probes by
	// itself (Kubernetes) makes it its readiness probe; one that does not
	// leaves Status.Readiness unknown and the controller probes.
	ReadinessPath string
}

// Readiness says whether a workload's app answers, as far as its engine
// knows.
type Readiness string

// Readiness values.
const (
	// ReadinessUnknown: the engine does not probe apps (Docker); the
	// controller probes Status.Endpoint itself.
	ReadinessUnknown Readiness = ""
	// Ready: the engine's own probe passes (Kubernetes: the pod's Ready
	// condition is True).
	Ready Readiness = "ready"
	// NotReady: the engine's own probe does not pass yet; Status.Message
	// may say why.
	NotReady Readiness = "not-ready"
)

// State is where a workload is in its life; see the package doc.
type State string

// States.
const (
	Pending State = "pending"
	Running State = "running"
	Exited  State = "exited"
)

// Status is what an engine reports about a workload.
type Status struct {
	Name  string
	ID    string // the engine's id (a container id, a pod uid)
	Image string
	State State
	// Detail is the engine's own word for the state, for logs and
	// diagnostics (Docker: created, running, paused, restarting,
	// removing, exited or dead).
	Detail string
	// Reason is a short CamelCase cause of the state when the engine gives
	// one (a scheduler's "Unschedulable"); Message is the engine's
	// explanation, set only when something is wrong or pending for a
	// reason: a workload that exited with a Message failed.
	Reason  string
	Message string
	// Unplaced: a Pending workload the engine has not yet found a place to
	// run (a scheduler has not bound it to a node, for want of room or of
	// a node it may use): it waits for capacity, as a lab in labd's queue
	// does, and Reason and Message say why once the scheduler has tried.
	// False for an engine that runs workloads where it creates them (one
	// Docker host).
	Unplaced bool

	// ExitCode is the exit status of an Exited workload; -1 when it ended
	// without one of its own (evicted, or lost with its node).
	ExitCode  int
	OOMKilled bool
	// SettlesAt, for an Exited workload, is when the engine will know
	// for sure why it exited (an OOM report or an engine restart may come
	// a moment after the exit): the controller judges the exit after it.
	// Zero: now.
	SettlesAt  time.Time
	Created    time.Time
	StartedAt  time.Time // zero until it started
	FinishedAt time.Time // zero until it exited
	Labels     map[string]string

	// Address is the workload's own IP address on the engine's network,
	// where a proxy on that network reaches its ports directly; "" when
	// the engine does not say.
	Address string
	// Ports maps a workload port ("8080/tcp") to the host port the engine
	// published it on ("49153"). Empty when nothing is published, which
	// is the default: labd reaches workloads at Endpoint.
	Ports map[string]string

	// Port is the app's port as the engine resolved it (Spec.Port, or the
	// image's only exposed TCP port); 0: the workload has no app to reach.
	Port int
	// Endpoint is host:port where labd (its gateway and the controller's
	// readiness probe) reaches the app: the workload's address on the
	// engine's lab network, or a port published on one host address. ""
	// without Port, or while the engine does not know it yet.
	Endpoint string
	// Readiness is the engine's own verdict on whether the app answers,
	// when the engine checks it (a Kubernetes readiness probe);
	// ReadinessUnknown otherwise.
	Readiness Readiness
}
