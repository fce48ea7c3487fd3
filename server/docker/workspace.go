package docker

import (
	"context"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"

	"github.com/labrm/terraform-provider-lab/server/workload"
)

// A workspace is a named local volume, labelled managed-by=labd,
// kind=workspace, with the installation, namespace and student. Ensure
// creates it before the container that mounts it (Docker would create an
// unlabelled one on its own); nothing here removes it except
// RemoveWorkspace, and removing a container (RemoveVolumes) removes only
// anonymous volumes, never a named one.

// ensureWorkspace creates the workspace volume unless it exists. One of
// that name that is not a workspace of ours is an error: its files are
// not ours to hand to a student.
func (r *Engine) ensureWorkspace(ctx context.Context, m *workload.Mount) error {
	v, err := r.cli.VolumeInspect(ctx, m.Workspace)
	switch {
	case err == nil:
		if v.Labels[workload.LabelManagedBy] != workload.ManagedBy || v.Labels[workload.LabelKind] != workload.KindWorkspace ||
			v.Labels[workload.LabelInstallation] != m.Labels[workload.LabelInstallation] {
			return fmt.Errorf("workspace volume %s exists but is not this installation's workspace", m.Workspace)
		}
		return nil
	case !cerrdefs.IsNotFound(err):
		return fmt.Errorf("inspect workspace volume %s: %w", m.Workspace, err)
	}
	labels := map[string]string{}
	for k, v := range m.Labels {
		labels[k] = v
	}
	labels[workload.LabelManagedBy] = workload.ManagedBy
	labels[workload.LabelKind] = workload.KindWorkspace
	// Creating a volume that exists (a concurrent create) answers it.
	if _, err := r.cli.VolumeCreate(ctx, volume.CreateOptions{Name: m.Workspace, Labels: labels}); err != nil {
		return fmt.Errorf("create workspace volume %s: %w", m.Workspace, err)
	}
	r.log.Info("created workspace volume", "volume", m.Workspace, "namespace", labels[workload.LabelNamespace])
	return nil
}

// workspaceMounts is the volume mount of spec's workspace, if any.
func workspaceMounts(spec workload.Spec) []mount.Mount {
	if spec.Workspace == nil {
		return nil
	}
	return []mount.Mount{{Type: mount.TypeVolume, Source: spec.Workspace.Workspace, Target: spec.Workspace.Path}}
}

// ListWorkspaces reports every workspace volume labelled managed-by=labd,
// of any installation (workload.Ours tells them apart).
func (r *Engine) ListWorkspaces(ctx context.Context) ([]workload.Workspace, error) {
	if err := r.negotiate(ctx); err != nil {
		return nil, err
	}
	resp, err := r.cli.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", workload.LabelManagedBy+"="+workload.ManagedBy),
		filters.Arg("label", workload.LabelKind+"="+workload.KindWorkspace),
	)})
	if err != nil {
		return nil, fmt.Errorf("list workspace volumes: %w", err)
	}
	out := make([]workload.Workspace, 0, len(resp.Volumes))
	for _, v := range resp.Volumes {
		if v == nil {
			continue
		}
		out = append(out, workload.Workspace{Name: v.Name, Labels: v.Labels, Created: parseTime(v.CreatedAt)})
	}
	return out, nil
}

// RemoveWorkspace removes a workspace volume and its files. Gone is
// success; a volume a container still mounts (running or not) is
// workload.ErrInUse.
func (r *Engine) RemoveWorkspace(ctx context.Context, name string) error {
	if err := r.negotiate(ctx); err != nil {
		return err
	}
	err := r.cli.VolumeRemove(ctx, name, false)
	switch {
	case err == nil, cerrdefs.IsNotFound(err):
		return nil
	case cerrdefs.IsConflict(err) || strings.Contains(err.Error(), "in use"):
		return fmt.Errorf("remove workspace volume %s: %w: %v", name, workload.ErrInUse, err)
	}
	return fmt.Errorf("remove workspace volume %s: %w", name, err)
}
