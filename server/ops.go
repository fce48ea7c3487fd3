package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/httpapi"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// ops is what the API's logs, leader and status routes ask of the control
// plane. It is the one place that implements the API's port onto it.
type ops struct{ cp *controlPlane }

var _ httpapi.ControlPlane = ops{}

func (cp *controlPlane) ops() ops { return ops{cp} }

// Logs serves GET .../logs from the lab's workload.
func (o ops) Logs(ctx context.Context, lab *api.LabInstanceRequest, lines int) (string, error) {
	out, err := o.cp.engine.Logs(ctx, workload.Name(lab.Metadata.UID), lines)
	if errors.Is(err, workload.ErrNotFound) {
		return "", fmt.Errorf("logs: %w", httpapi.ErrNoContainer)
	}
	return out, err
}

// Leader serves GET /api/status/leader.
func (o ops) Leader(ctx context.Context) (api.LeaderStatus, error) { return o.cp.elector.Status(ctx) }

// QueueDepth is the controller's queue depth (0 on a standby).
func (o ops) QueueDepth() int { return o.cp.ctrl.QueueDepth() }

// Finalizing is the number of finalizers running on this replica.
func (o ops) Finalizing() int64 { return o.cp.ctrl.Finalizing() }
