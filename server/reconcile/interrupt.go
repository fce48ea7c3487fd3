package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// restart starts again the workload of a RUNNING lab that the engine
// stopped (it restarted without keeping its workloads running): the lab
// stays RUNNING, its time counting from its first start, and the
// interruption is recorded in the Interrupted condition and, with the
// write, in the lab's history.
func (c *Controller) restart(ctx context.Context, lab *api.LabInstanceRequest, ctr *workload.Status, act action, now time.Time) (Result, error) {
	st, err := c.cfg.Engine.Restart(ctx, c.workloadSpec(lab))
	if f := workload.Permanent(err); f != nil {
		return Result{}, c.finish(ctx, lab, api.PhaseFailed, action{reason: f.Reason, message: err.Error()}, nil, now)
	}
	if err != nil {
		return Result{}, fmt.Errorf("restart container: %w", err)
	}
	msg := fmt.Sprintf("%s (exit code %d); started it again as container %s", act.message, ctr.ExitCode, shortID(st.ID))
	if act.message == "" {
		msg = fmt.Sprintf("the engine stopped the container (exit code %d); started it again as container %s", ctr.ExitCode, shortID(st.ID))
	}
	c.cfg.Logger.Info("lab interrupted by the engine; workload started again", "lab", lab.Key().String(), "container", shortID(st.ID))
	return Result{Requeue: true}, c.write(ctx, lab, "interrupted: "+msg, func(x *api.LabInstanceRequest) error {
		x.SetCondition(api.Condition{Type: api.ConditionInterrupted, Status: api.ConditionTrue, Reason: act.reason, Message: msg}, now)
		x.Status.ContainerID = st.ID
		if st.Port > 0 && st.Endpoint != "" {
			x.Status.Endpoint = st.Endpoint // a new container may have a new address
		}
		return nil
	})
}

// followEngine queues the labs engine events concern, at once rather than
// at their next probe; after an engine outage it queues every lab and
// forgets their backoff, since the errors they backed off from are gone.
func (c *Controller) followEngine(ctx context.Context, q *Queue) error {
	for {
		var ev workload.Event
		select {
		case <-ctx.Done():
			return nil
		case ev = <-c.cfg.EngineEvents:
		}
		if ev.Kind == workload.EventEngineRecovered {
			c.cfg.Logger.Info("the engine is back; looking at every lab")
			if err := c.enqueueAll(ctx, q, true); err != nil && ctx.Err() == nil {
				c.cfg.Logger.Warn("queue labs after the engine's return", "err", err)
			}
			continue
		}
		ns, name := ev.Labels[workload.LabelNamespace], ev.Labels[workload.LabelName]
		if ns != "" && name != "" && workload.Ours(ev.Labels, c.installation) {
			q.Add(api.Key{Namespace: ns, Name: name})
		}
	}
}
