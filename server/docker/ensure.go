package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/labrm/terraform-provider-lab/internal/wait"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// ensureAttempts bounds the rounds of Ensure that create or remove a
// container, when other callers keep doing the same under us.
const ensureAttempts = 5

// nameWait is how long, after a 409 on create, Ensure waits for the
// container holding the name to become visible before it tries to create
// again: the engine reserves a name before the container can be inspected
// (while a concurrent create is still making its filesystem).
const nameWait = 5 * time.Second

// goneTimeout bounds the wait for a container whose removal is in progress.
const goneTimeout = 30 * time.Second

// errNameTaken: create answered 409, a container of that name exists.
var errNameTaken = errors.New("container name taken")

// Ensure makes the container spec.Name exist and run, idempotently:
//
//   - none of that name: create it (pulling the image if absent) and start it;
//   - ours, same resource uid and spec hash: adopt it; start it only if it
//     never started (status created). One that has exited is returned as it
//     is, never restarted: the controller decides what an exit means;
//   - ours with another uid or spec hash: force-remove it and recreate;
//   - not labelled managed-by=labd: an error, it is not ours to remove.
//
// The leader-epoch label is not compared: a new leader adopts what the old
// one started. A 409 on create (a concurrent or earlier attempt won the
// name) goes round the loop again, which adopts or replaces that container.
func (r *Engine) Ensure(ctx context.Context, spec workload.Spec) (workload.Status, error) {
	if err := r.negotiate(ctx); err != nil {
		return workload.Status{}, err
	}
	if spec.Name == "" || spec.Image == "" {
		return workload.Status{}, fmt.Errorf("ensure container: name and image are required")
	}
	labels := ourLabels(spec)
	var taken time.Time // when create last answered 409 for the name
	backoff := 10 * time.Millisecond
	for rounds, first := 0, true; ; first = false {
		// The first round creates without asking: Ensure is called for a
		// lab whose workload the controller did not find, so the name is
		// almost always free, and a create that finds it taken (409) goes
		// round again, which adopts or replaces the container. One engine
		// call fewer per start.
		st, err := workload.Status{}, workload.ErrNotFound
		if !first {
			st, err = r.Inspect(ctx, spec.Name)
		}
		switch {
		case errors.Is(err, workload.ErrNotFound) && !taken.IsZero() && time.Since(taken) < nameWait:
			// A create in flight holds the name; it becomes visible soon
			// (or fails and frees the name, and the next create wins).
			if err := wait.Sleep(ctx, backoff); err != nil {
				return workload.Status{}, fmt.Errorf("ensure container %s: %w", spec.Name, err)
			}
			backoff = min(2*backoff, time.Second)
			continue
		case errors.Is(err, workload.ErrNotFound):
			if rounds++; rounds > ensureAttempts {
				return workload.Status{}, fmt.Errorf("ensure container %s: name still contested after %d attempts", spec.Name, ensureAttempts)
			}
			id, err := r.create(ctx, spec, labels)
			if errors.Is(err, errNameTaken) {
				r.log.Info("container name taken on create; adopting or replacing it", "container", spec.Name)
				taken = time.Now()
				continue
			}
			if err != nil {
				return workload.Status{}, err
			}
			r.log.Info("created container", "container", spec.Name, "id", short(id), "image", spec.Image)
			// Just created: start it without asking the engine what it
			// knows already (one call fewer per start; the inspect after
			// the start reports the rest).
			st = workload.Status{ID: id, Name: spec.Name, Detail: container.StateCreated}
		case err != nil:
			return workload.Status{}, err
		case st.Detail == container.StateRemoving:
			if err := r.waitGone(ctx, spec.Name); err != nil {
				return workload.Status{}, err
			}
			continue
		case st.Labels[workload.LabelManagedBy] != workload.ManagedBy:
			return workload.Status{}, fmt.Errorf("ensure container %s: the name is taken by a container not managed by %s (id %s)",
				spec.Name, workload.ManagedBy, short(st.ID))
		case !sameLab(st.Labels, labels):
			if rounds++; rounds > ensureAttempts {
				return workload.Status{}, fmt.Errorf("ensure container %s: name still contested after %d attempts", spec.Name, ensureAttempts)
			}
			r.log.Info("replacing container: resource uid or spec hash differs", "container", spec.Name, "id", short(st.ID),
				"have_uid", st.Labels[workload.LabelResourceUID], "want_uid", labels[workload.LabelResourceUID],
				"have_spec_hash", st.Labels[workload.LabelSpecHash], "want_spec_hash", labels[workload.LabelSpecHash])
			if err := r.Remove(ctx, st.ID); err != nil {
				return workload.Status{}, err
			}
			continue
		default:
			r.log.Debug("adopting container", "container", spec.Name, "id", short(st.ID), "status", st.Detail)
		}
		if st.Detail != container.StateCreated {
			return st, nil
		}
		if err := r.cli.ContainerStart(ctx, st.ID, container.StartOptions{}); err != nil {
			if cerrdefs.IsNotFound(err) {
				continue // removed under us
			}
			return st, fmt.Errorf("start container %s: %w", spec.Name, rejected(err))
		}
		return r.Inspect(ctx, st.ID)
	}
}

// create creates (not starts) the container; errNameTaken on a 409.
func (r *Engine) create(ctx context.Context, spec workload.Spec, labels map[string]string) (string, error) {
	img, err := r.image(ctx, spec.Image)
	if err != nil {
		return "", err
	}
	if err := r.ensureNetwork(ctx, labels[workload.LabelInstallation]); err != nil {
		return "", err
	}
	cfg := &container.Config{
		Image:      spec.Image,
		Env:        env(spec.Env),
		Labels:     maps.Clone(labels),
		Entrypoint: spec.Command,
		Cmd:        spec.Args,
	}
	if spec.StopTimeout > 0 {
		secs := seconds(spec.StopTimeout)
		cfg.StopTimeout = &secs
	}
	if spec.Workspace != nil {
		if err := r.ensureWorkspace(ctx, spec.Workspace); err != nil {
			return "", err
		}
	}
	hc := r.hostConfig(spec, img)
	netCfg, _ := r.networking(spec, img, cfg, hc)
	r.harden(cfg, hc, spec)
	resp, err := r.cli.ContainerCreate(ctx, cfg, hc, netCfg, nil, spec.Name)
	if err != nil {
		if cerrdefs.IsConflict(err) {
			return "", fmt.Errorf("create container %s: %w: %v", spec.Name, errNameTaken, err)
		}
		if cerrdefs.IsNotFound(err) {
			r.forgetNetwork() // the lab network was removed under us
		}
		return "", fmt.Errorf("create container %s: %w", spec.Name, rejected(err))
	}
	for _, w := range resp.Warnings {
		r.log.Warn("docker create warning", "container", spec.Name, "warning", w)
	}
	return resp.ID, nil
}

// hostConfig is where the lab's limits and isolation are set: CPU, memory
// (no swap beyond it; requests are the controller's business, Docker
// reserves nothing), process count, no host mounts (only the student's
// workspace volume), no restart (an exit is for the controller to judge)
// and bounded log files. Its network and ports are set by networking
// (network.go), its security profile by harden (harden.go).
func (r *Engine) hostConfig(spec workload.Spec, img image.InspectResponse) *container.HostConfig {
	pids := spec.PidsLimit
	if pids <= 0 {
		pids = r.pidsLimit
	}
	hc := &container.HostConfig{
		Resources: container.Resources{
			NanoCPUs:  spec.Limits.MilliCPU * 1e6,
			Memory:    spec.Limits.MemoryBytes,
			PidsLimit: &pids,
		},
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		Mounts:        workspaceMounts(spec),
		LogConfig: container.LogConfig{
			Type:   "json-file",
			Config: map[string]string{"max-size": "10m", "max-file": "2"},
		},
	}
	if spec.Limits.MemoryBytes > 0 {
		hc.MemorySwap = spec.Limits.MemoryBytes
	}
	return hc
}

// image makes sure ref is present: the local image if there is one, else a
// pull (one per reference at a time, and a failed one remembered for
// PullRetry: pull.go). A pull that fails gives an error wrapping workload.ErrImage with the
// engine's reason, unless the caller gave up or the engine is unreachable
// (those are not the image's fault, and are worth a retry).
func (r *Engine) image(ctx context.Context, ref string) (image.InspectResponse, error) {
	img, err := r.cli.ImageInspect(ctx, ref)
	if err == nil {
		return img, nil
	}
	if !cerrdefs.IsNotFound(err) {
		return img, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	if err := r.pulls.do(ctx, ref, r.pullLogged); err != nil {
		switch {
		case ctx.Err() != nil:
			return img, fmt.Errorf("pull image %s: %w", ref, ctx.Err())
		case client.IsErrConnectionFailed(err):
			return img, fmt.Errorf("pull image %s: %w", ref, err)
		}
		return img, fmt.Errorf("%w: %s is not present on the engine and pulling it failed: %v", workload.ErrImage, ref, err)
	}
	img, err = r.cli.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return img, fmt.Errorf("%w: %s still not present after a successful pull", workload.ErrImage, ref)
	}
	if err != nil {
		return img, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return img, nil
}

// pullLogged is pull, logged: once per pull, however many labs wait for it.
func (r *Engine) pullLogged(ctx context.Context, ref string) error {
	r.log.Info("image not present; pulling", "image", ref)
	start := time.Now()
	if err := r.pull(ctx, ref); err != nil {
		r.log.Warn("image pull failed", "image", ref, "error", err, "took", time.Since(start))
		return err
	}
	r.log.Info("pulled image", "image", ref, "took", time.Since(start))
	return nil
}

// pull pulls ref within the pull timeout. The engine reports most failures
// inside the progress stream, with HTTP 200, so the stream is read to the
// end for them.
func (r *Engine) pull(ctx context.Context, ref string) error {
	ctx, cancel := context.WithTimeout(ctx, r.pullTimeout)
	defer cancel()
	rc, err := r.cli.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return err
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	for {
		var m struct {
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("timed out after %s: %w", r.pullTimeout, err)
			}
			return err
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return errors.New(m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}

// waitGone waits (bounded) for a container being removed to disappear.
func (r *Engine) waitGone(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, goneTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := r.Inspect(ctx, name)
		if errors.Is(err, workload.ErrNotFound) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for removal of container %s: %w", name, ctx.Err())
		case <-tick.C:
		}
	}
}

// ourLabels are spec.Labels with managed-by=labd always set, so that List
// and the garbage collector find every container Ensure made.
func ourLabels(spec workload.Spec) map[string]string {
	l := maps.Clone(spec.Labels)
	if l == nil {
		l = map[string]string{}
	}
	l[workload.LabelManagedBy] = workload.ManagedBy
	return l
}

// sameLab: same resource and same spec. Only these keys are compared:
// a container's labels also carry its image's labels, and the leader
// epoch changes with leadership, not with the lab.
func sameLab(have, want map[string]string) bool {
	return have[workload.LabelResourceUID] == want[workload.LabelResourceUID] &&
		have[workload.LabelSpecHash] == want[workload.LabelSpecHash]
}

// env renders the environment in a stable order.
func env(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+"="+m[k])
	}
	return out
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
