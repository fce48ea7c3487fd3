package docker

import (
	"context"
	"errors"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/labrm/terraform-provider-lab/server/workload"
)

// Restart starts again a container the engine stopped (a daemon restart
// without live-restore): the same container, so that what the student
// left in its file system is still there. A container that is gone, or
// that belongs to another spec, is made anew by Ensure; one that runs is
// reported as it is (live-restore kept it, or someone started it).
func (r *Engine) Restart(ctx context.Context, spec workload.Spec) (workload.Status, error) {
	if err := r.negotiate(ctx); err != nil {
		return workload.Status{}, err
	}
	st, err := r.Inspect(ctx, spec.Name)
	switch {
	case errors.Is(err, workload.ErrNotFound):
		return r.Ensure(ctx, spec)
	case err != nil:
		return st, err
	case st.State == workload.Running:
		return st, nil
	case !sameLab(st.Labels, ourLabels(spec)) || st.Detail == container.StateRemoving:
		return r.Ensure(ctx, spec)
	}
	if err := r.cli.ContainerStart(ctx, st.ID, container.StartOptions{}); err != nil {
		if cerrdefs.IsNotFound(err) {
			return r.Ensure(ctx, spec)
		}
		return st, fmt.Errorf("restart container %s: %w", spec.Name, rejected(err))
	}
	r.log.Info("started the container again after the engine stopped it", "container", spec.Name, "id", short(st.ID))
	return r.Inspect(ctx, st.ID)
}

// rejected marks an engine error that refuses the request as invalid
// (HTTP 400 from dockerd: a CPU limit above the host's CPUs, an
// executable not found in the image) as permanent: the same request
// would be refused again.
func rejected(err error) error {
	if cerrdefs.IsInvalidArgument(err) {
		return fmt.Errorf("%w: %w", workload.ErrRejected, err)
	}
	return err
}
