package workload

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
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
	// Limits caps what the workload may use. (What a scheduler reserves
	// for it is the same today; requests, when they differ, get their own
	// field.)
	Limits      Resources
	PidsLimit   int64 // 0: the engine's default
	StopTimeout time.Duration
}

// State is where a workload is in its life; see the package doc.
type State string

// States.
const (
	Pending State = "pending"
	Running State = "running"
	Exited  State = "exited"
)

// Readiness says whether a workload's app answers, as far as its engine
// knows.
type Readiness string

// Readiness values.
const (
	// ReadinessUnknown: the engine does not probe apps (Docker); the
	// controller probes the workload itself.
	ReadinessUnknown Readiness = ""
	// Ready: the engine's own probe passes (Kubernetes: the pod's Ready
	// condition is True).
	Ready Readiness = "ready"
	// NotReady: the engine's own probe does not pass (yet); Status.Message
	// may say why.
	NotReady Readiness = "not-ready"
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

	// ExitCode is the exit status of an Exited workload; -1 when it ended
	// without one of its own (evicted, or lost with its node).
	ExitCode   int
	OOMKilled  bool
	Created    time.Time
	StartedAt  time.Time // zero until it started
	FinishedAt time.Time // zero until it exited
	Labels     map[string]string

	// Readiness is the engine's own verdict on whether the workload's app
	// answers, when the engine checks it (a Kubernetes readiness probe);
	// ReadinessUnknown otherwise.
	Readiness Readiness

	// Address is the workload's own IP address on the engine's network,
	// where a proxy on that network reaches its ports directly; "" when
	// the engine does not say.
	Address string
	// Ports maps a workload port ("8080/tcp") to the port the engine
	// published it on ("49153"), reachable at AccessHost. Empty when
	// nothing is published (a workload reached only at Address).
	Ports map[string]string
	// AccessHost is the host name at which published ports are reachable
	// (the engine's configuration, e.g. "localhost").
	AccessHost string
}

// AccessURL is the URL a student opens: http://<AccessHost>:<host port> of
// the lowest published TCP workload port, or "" when nothing is published.
func (s Status) AccessURL() string {
	var ports []int
	hostPort := map[int]string{}
	for cport, hport := range s.Ports {
		num, proto, _ := strings.Cut(cport, "/")
		n, err := strconv.Atoi(num)
		if err != nil || hport == "" || (proto != "" && proto != "tcp") {
			continue
		}
		ports = append(ports, n)
		hostPort[n] = hport
	}
	if len(ports) == 0 || s.AccessHost == "" {
		return ""
	}
	sort.Ints(ports)
	return "http://" + net.JoinHostPort(s.AccessHost, hostPort[ports[0]])
}
