// Package runtime defines what the controller needs from a container
// engine. The Docker implementation lives in runtime/docker; the controller
// depends only on this package, so its decisions are tested without Docker
// and its effects with the real engine.
//
// Every operation is idempotent on the container name, which is derived
// from the lab's uid: the name is the idempotency key that makes a retried
// or repeated create adopt what an earlier attempt made.
package runtime

import (
	"context"
	"errors"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Labels put on every container; GC and adoption read them back.
const (
	LabelManagedBy    = "managed-by"
	LabelResourceUID  = "resource-uid"
	LabelNamespace    = "namespace"
	LabelName         = "name"
	LabelLeaderEpoch  = "leader-epoch"
	LabelSpecHash     = "spec-hash"
	LabelInstallation = "installation"

	// ManagedBy is the value of LabelManagedBy on our containers.
	ManagedBy = "labd"
)

// Errors the controller branches on.
var (
	// ErrNotFound: no container of that name.
	ErrNotFound = errors.New("container not found")
	// ErrImage: the image is not present and cannot be pulled; retrying
	// will not help, the lab fails.
	ErrImage = errors.New("image unavailable")
)

// Spec is the container a lab asks for.
type Spec struct {
	Name        string // deterministic, from the lab's uid
	Image       string
	Env         map[string]string
	Labels      map[string]string // includes the Label* keys above
	NanoCPUs    int64
	MemoryBytes int64
	PidsLimit   int64
	StopTimeout time.Duration
}

// State is what the engine reports about a container.
type State struct {
	ID         string
	Name       string
	Image      string
	Status     string // created, running, paused, restarting, removing, exited, dead
	Running    bool
	ExitCode   int
	OOMKilled  bool
	Error      string // the engine's own error text, if any
	StartedAt  time.Time
	FinishedAt time.Time
	Created    time.Time
	Labels     map[string]string
	// Ports maps a container port ("8080/tcp") to the published host port ("49153").
	Ports map[string]string
	// AccessHost is the host name at which published ports are reachable
	// (the runtime's configuration, e.g. "localhost"), so the controller
	// can build an access URL without knowing how the engine is set up.
	AccessHost string
}

// AccessURL is the URL a student opens: http://<AccessHost>:<host port> of
// the lowest published TCP container port, or "" when nothing is published.
func (s State) AccessURL() string {
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

// Runtime runs lab containers.
type Runtime interface {
	// Ensure makes the container of spec.Name exist and run. A container
	// already of that name is adopted when its labels carry the same
	// resource uid and spec hash, and replaced otherwise. An image that is
	// neither present nor pullable gives an error wrapping ErrImage.
	Ensure(ctx context.Context, spec Spec) (State, error)
	// Inspect reports a container by name, or ErrNotFound.
	Inspect(ctx context.Context, name string) (State, error)
	// Stop stops a container (SIGTERM, SIGKILL after timeout). Not found is success.
	Stop(ctx context.Context, name string, timeout time.Duration) error
	// Remove force-removes a container. Not found, or removal already in
	// progress, is success.
	Remove(ctx context.Context, name string) error
	// Logs returns the last lines of the container's output (stdout and stderr).
	Logs(ctx context.Context, name string, lines int) (string, error)
	// List returns every container labelled managed-by=labd.
	List(ctx context.Context) ([]State, error)
	// Ping checks that the engine answers.
	Ping(ctx context.Context) error
}
