package reconcile_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/docker"
	"github.com/labrm/terraform-provider-lab/server/reconcile"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// blindEngine is the real Docker engine that does not say the largest
// workload it can run, so that a lab too large for it reaches the engine.
type blindEngine struct{ *docker.Engine }

func (blindEngine) Largest(context.Context) (workload.Resources, error) {
	return workload.Resources{}, nil
}

// TestEngineRejectionFailsAtOnce: a request the engine refuses as invalid
// (a CPU limit above its CPUs) fails the lab at once with the engine's
// message, not after the provisioning timeout; its allocation is released
// and the lab waiting behind it starts.
func TestEngineRejectionFailsAtOnce(t *testing.T) {
	t.Parallel()
	var h *harness
	h = start(t, func(c *reconcile.Config) {
		c.Engine = blindEngine{c.Engine.(*docker.Engine)}
		// Overcommitted capacity: admission lets 8 CPUs through, and
		// the next lab (1.5) must wait while the big one holds its
		// reservation.
		c.Capacity = workload.Resources{MilliCPU: 9000, MemoryBytes: 8 << 30}
		c.ProvisionTimeout = 10 * time.Minute
	})
	start := time.Now()
	h.create("too-big", func(l *api.LabInstanceRequest) { l.Spec.ResourceLimits = &api.ResourceLimits{CPU: "8", Memory: "64Mi"} })
	h.create("next", func(l *api.LabInstanceRequest) {
		l.Spec.ResourceLimits = &api.ResourceLimits{CPU: "1500m", Memory: "32Mi"}
	})
	failed := h.waitPhase("too-big", api.PhaseFailed)
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("failed after %s", took)
	}
	tr := failed.Status.Transitions[len(failed.Status.Transitions)-1]
	if tr.Reason != workload.ErrRejected.Reason || !strings.Contains(failed.Status.ErrorMessage, "CPUs") || len(failed.Status.ResourceAllocation) != 0 {
		t.Fatalf("status %+v", failed.Status)
	}
	h.waitPhase("next", api.PhaseRunning)
}
