// Package docker runs labs' workloads as Docker containers: it implements
// the controller's reconcile.Engine through the official client, with API
// version negotiation (the engine on Debian 12 speaks API 1.41, and every
// call made here exists in that version). It is the only importer of the
// Docker client.
//
// A workload is one container, named workload.Name(uid). The name is the
// idempotency key: Ensure adopts a container of that name when its labels
// say it is the same lab with the same spec, so a controller that crashed
// between "create container" and "record its id" finds its container
// instead of creating a second one.
//
// Every lab container joins a labd-managed bridge network with traffic
// between containers off, and publishes nothing on the host unless
// Config.PublishIP says where (network.go); Status.Endpoint is where labd
// reaches the lab's app. Command, Args and Port come from the spec; a spec
// without Port uses the image's only exposed TCP port.
//
// States map as: created → workload.Pending; running, paused, restarting →
// workload.Running; removing, exited, dead → workload.Exited (Detail keeps
// Docker's word). The engine's error text is Status.Message. An image that
// is neither present nor pullable is workload.ErrImage (permanent), a
// request dockerd refuses as invalid workload.ErrRejected (permanent); an
// unreachable engine, a cancelled call or any other engine error is
// transient.
//
// Every container gets the hardening profile of harden.go. Run follows
// the daemon's event stream (monitor.go) to tell an engine restart, a
// kill and an OOM kill apart, which Docker's inspect answer does not.
package docker

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/labrm/terraform-provider-lab/server/workload"
)

// Defaults for Config.
const (
	DefaultPullTimeout = 5 * time.Minute
	DefaultPidsLimit   = 1024
)

// Config configures the Docker engine.
type Config struct {
	// Host is the engine address (unix:///var/run/docker.sock,
	// tcp://host:2376). Empty means DOCKER_HOST or the platform default.
	Host string
	// Network is the bridge network lab containers join, created with
	// traffic between containers off if missing (DefaultNetwork).
	Network string
	// PublishIP, when set, publishes each lab's app port on this one host
	// address, and labd reaches the app there: for an engine whose
	// container addresses labd cannot reach (a remote DOCKER_HOST). Empty
	// publishes nothing: labd reaches each container at its address on
	// Network. 0.0.0.0 and :: are refused (CheckPublishIP).
	PublishIP string
	// PullTimeout bounds an image pull. Default 5 minutes.
	PullTimeout time.Duration
	// DefaultPidsLimit applies when a spec sets no PidsLimit, so that no
	// lab can fork-bomb the host. Default 1024.
	DefaultPidsLimit int64
	// RunAsUser and ReadOnlyRootFilesystem are the installation's
	// defaults for labs whose spec sets neither (harden.go): a numeric
	// user id (nil: the image's user), and a read-only root file system
	// for every lab.
	RunAsUser              *int64
	ReadOnlyRootFilesystem bool
	Logger                 *slog.Logger
}

// Engine runs workloads as containers on a Docker engine. It is safe for
// concurrent use.
type Engine struct {
	cli         *client.Client
	negotiation sync.Mutex
	negotiated  bool
	network     string
	publishIP   string
	netMu       sync.Mutex
	netReady    bool // the lab network is known to exist
	pullTimeout time.Duration
	pulls       *pulls // pull.go
	pidsLimit   int64
	log         *slog.Logger

	runAsUser      *int64
	readOnlyRootfs bool
	mon            monitor // monitor.go
}

// New returns an Engine for the Docker engine at cfg.Host. It does not
// contact the engine; call Ping to check it answers.
func New(cfg Config) (*Engine, error) {
	if cfg.PublishIP != "" {
		if err := CheckPublishIP(cfg.PublishIP); err != nil {
			return nil, fmt.Errorf("publish address %q: %w", cfg.PublishIP, err)
		}
	}
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if cfg.Host != "" {
		opts = append(opts, client.WithHost(cfg.Host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return &Engine{
		cli:         cli,
		network:     cmp.Or(cfg.Network, DefaultNetwork),
		publishIP:   cfg.PublishIP,
		pullTimeout: cmp.Or(cfg.PullTimeout, DefaultPullTimeout),
		pulls:       newPulls(time.Now),
		pidsLimit:   cmp.Or(cfg.DefaultPidsLimit, DefaultPidsLimit),
		log:         cmp.Or(cfg.Logger, slog.Default()),

		runAsUser:      cfg.RunAsUser,
		readOnlyRootfs: cfg.ReadOnlyRootFilesystem,
		mon:            newMonitor(),
	}, nil
}

// Close releases the client's connections.
func (r *Engine) Close() error { return r.cli.Close() }

// Network is the lab network's name.
func (r *Engine) Network() string { return r.network }

// Client exposes the underlying engine client, for tests and diagnostics,
// with the API version negotiated (if the engine answers).
func (r *Engine) Client() *client.Client {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.negotiate(ctx)
	return r.cli
}

// negotiate settles the API version once, before any other call: the
// client's own lazy negotiation writes its state unguarded on the first
// request, a data race when the first requests are concurrent.
func (r *Engine) negotiate(ctx context.Context) error {
	r.negotiation.Lock()
	defer r.negotiation.Unlock()
	if r.negotiated {
		return nil
	}
	ping, err := r.cli.Ping(ctx)
	if err != nil {
		return fmt.Errorf("docker ping %s: %w", r.cli.DaemonHost(), err)
	}
	r.cli.NegotiateAPIVersionPing(ping)
	r.negotiated = true
	return nil
}

// Ping checks that the engine answers (and negotiates the API version).
func (r *Engine) Ping(ctx context.Context) error {
	if err := r.negotiate(ctx); err != nil {
		return err
	}
	if _, err := r.cli.Ping(ctx); err != nil {
		return fmt.Errorf("docker ping %s: %w", r.cli.DaemonHost(), err)
	}
	return nil
}

// Inspect reports the container called name, or workload.ErrNotFound.
func (r *Engine) Inspect(ctx context.Context, name string) (workload.Status, error) {
	if err := r.negotiate(ctx); err != nil {
		return workload.Status{}, err
	}
	resp, err := r.cli.ContainerInspect(ctx, name)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return workload.Status{}, fmt.Errorf("inspect container %s: %w", name, workload.ErrNotFound)
		}
		return workload.Status{}, fmt.Errorf("inspect container %s: %w", name, err)
	}
	return r.state(resp), nil
}

// Stop sends SIGTERM and, after timeout, SIGKILL. A container that is
// already stopped or gone counts as stopped.
func (r *Engine) Stop(ctx context.Context, name string, timeout time.Duration) error {
	if err := r.negotiate(ctx); err != nil {
		return err
	}
	secs := seconds(timeout)
	err := r.cli.ContainerStop(ctx, name, container.StopOptions{Timeout: &secs})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("stop container %s: %w", name, err)
	}
	return nil
}

// Remove force-removes a container and its anonymous volumes. Gone, or a
// removal already in progress (a concurrent call), counts as removed.
func (r *Engine) Remove(ctx context.Context, name string) error {
	if err := r.negotiate(ctx); err != nil {
		return err
	}
	err := r.cli.ContainerRemove(ctx, name, container.RemoveOptions{Force: true, RemoveVolumes: true})
	switch {
	case err == nil, cerrdefs.IsNotFound(err):
		return nil
	case cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress"):
		return nil
	}
	return fmt.Errorf("remove container %s: %w", name, err)
}

// Logs returns the last lines of the container's stdout and stderr,
// interleaved as they were written. lines <= 0 means all of them.
func (r *Engine) Logs(ctx context.Context, name string, lines int) (string, error) {
	if err := r.negotiate(ctx); err != nil {
		return "", err
	}
	tail := "all"
	if lines > 0 {
		tail = strconv.Itoa(lines)
	}
	rc, err := r.cli.ContainerLogs(ctx, name, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: tail})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return "", fmt.Errorf("container logs %s: %w", name, workload.ErrNotFound)
		}
		return "", fmt.Errorf("container logs %s: %w", name, err)
	}
	defer rc.Close()
	// Our containers have no TTY, so the stream is multiplexed; one buffer
	// for both keeps the order in which lines were written.
	buf := workload.NewTail(workload.MaxLogBytes)
	if _, err := stdcopy.StdCopy(buf, buf, rc); err != nil {
		return "", fmt.Errorf("container logs %s: %w", name, err)
	}
	return buf.String(), nil
}

// List returns every container labelled managed-by=labd, in any state,
// from the engine's summary: ExitCode, StartedAt and FinishedAt are not
// filled in (Inspect one container for those).
func (r *Engine) List(ctx context.Context) ([]workload.Status, error) {
	if err := r.negotiate(ctx); err != nil {
		return nil, err
	}
	cs, err := r.cli.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", workload.LabelManagedBy+"="+workload.ManagedBy)),
	})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]workload.Status, 0, len(cs))
	for _, c := range cs {
		st := workload.Status{
			ID:      c.ID,
			Image:   c.Image,
			State:   stateOf(c.State),
			Detail:  c.State,
			Created: time.Unix(c.Created, 0).UTC(),
			Labels:  c.Labels,
			Ports:   map[string]string{},
		}
		if len(c.Names) > 0 {
			st.Name = strings.TrimPrefix(c.Names[0], "/")
		}
		for _, p := range c.Ports {
			if p.PublicPort != 0 {
				st.Ports[fmt.Sprintf("%d/%s", p.PrivatePort, p.Type)] = strconv.Itoa(int(p.PublicPort))
			}
		}
		if c.NetworkSettings != nil {
			st.Address = address(c.NetworkSettings.Networks)
		}
		r.mon.remember(st)
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Capacity is the engine's CPUs and memory, as its host reports them.
func (r *Engine) Capacity(ctx context.Context) (workload.Resources, error) {
	if err := r.negotiate(ctx); err != nil {
		return workload.Resources{}, err
	}
	info, err := r.cli.Info(ctx)
	if err != nil {
		return workload.Resources{}, fmt.Errorf("read the Docker engine's capacity: %w", err)
	}
	return workload.Resources{MilliCPU: int64(info.NCPU) * 1000, MemoryBytes: info.MemTotal}, nil
}

// Largest is the most one container can be given: the host's CPUs and
// memory (the engine refuses a CPU limit above its CPUs).
func (r *Engine) Largest(ctx context.Context) (workload.Resources, error) { return r.Capacity(ctx) }

// HasImage reports whether the engine holds the image ref, without
// pulling it.
func (r *Engine) HasImage(ctx context.Context, ref string) (bool, error) {
	if err := r.negotiate(ctx); err != nil {
		return false, err
	}
	_, err := r.cli.ImageInspect(ctx, ref)
	switch {
	case err == nil:
		return true, nil
	case cerrdefs.IsNotFound(err):
		return false, nil
	}
	return false, fmt.Errorf("inspect image %s: %w", ref, err)
}

// stateOf maps Docker's container state onto the workload states. A
// paused or restarting container still counts as running, as the engine's
// own Running flag says.
func stateOf(s container.ContainerState) workload.State {
	switch s {
	case container.StateCreated:
		return workload.Pending
	case container.StateRunning, container.StatePaused, container.StateRestarting:
		return workload.Running
	}
	return workload.Exited
}

// address is the container's IP address on the first of its networks (by
// name) that gives one.
func address(networks map[string]*network.EndpointSettings) string {
	for _, name := range slices.Sorted(maps.Keys(networks)) {
		if n := networks[name]; n != nil && n.IPAddress != "" {
			return n.IPAddress
		}
	}
	return ""
}

// state converts the engine's inspect answer.
func (r *Engine) state(c container.InspectResponse) workload.Status {
	st := workload.Status{Ports: map[string]string{}}
	if c.ContainerJSONBase != nil {
		st.ID = c.ID
		st.Name = strings.TrimPrefix(c.Name, "/")
		st.Created = parseTime(c.Created)
		if s := c.State; s != nil {
			st.State = stateOf(s.Status)
			st.Detail = s.Status
			st.ExitCode = s.ExitCode
			st.OOMKilled = s.OOMKilled
			st.Message = s.Error
			st.StartedAt = parseTime(s.StartedAt)
			st.FinishedAt = parseTime(s.FinishedAt)
		}
	}
	if c.Config != nil {
		st.Image = c.Config.Image
		st.Labels = c.Config.Labels
	}
	r.mon.remember(st)
	if st.State == workload.Exited {
		r.mon.explain(&st, time.Now())
	}
	if c.NetworkSettings != nil {
		for port, bindings := range c.NetworkSettings.Ports {
			for _, b := range bindings {
				if b.HostPort != "" {
					st.Ports[string(port)] = b.HostPort
					break
				}
			}
		}
		st.Address = address(c.NetworkSettings.Networks)
	}
	r.reach(&st, c)
	return st
}

// parseTime reads the engine's RFC 3339 times; its zero value
// ("0001-01-01T00:00:00Z") and garbage both give the zero time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t.UTC()
}

// seconds rounds a duration up to whole seconds, as the engine wants them.
func seconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}
