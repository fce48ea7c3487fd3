package provider

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/internal/client"
)

// maxPerLabTimeout bounds the plan-time question to labd: a plan must not
// wait for a server that is down.
const maxPerLabTimeout = 2 * time.Second

// maxPerLabAnswer is labd's answer, asked once per endpoint per provider
// process (one terraform command).
type maxPerLabAnswer struct {
	once sync.Once
	max  api.Resources
	ok   bool
}

var maxPerLabCache sync.Map // endpoint -> *maxPerLabAnswer

func maxPerLab(ctx context.Context, c *client.Client) (api.Resources, bool) {
	v, _ := maxPerLabCache.LoadOrStore(c.Endpoint(), &maxPerLabAnswer{})
	a := v.(*maxPerLabAnswer)
	a.once.Do(func() {
		qctx, cancel := context.WithTimeout(ctx, maxPerLabTimeout)
		defer cancel()
		var err error
		a.max, a.ok, err = c.MaxPerLab(qctx)
		if err != nil {
			tflog.Debug(ctx, "labd did not say the largest lab it can run; the limits are checked when labd admits the lab", map[string]any{"error": err.Error()})
		}
	})
	return a.max, a.ok
}

// checkLargest refuses at plan time a lab whose resource limits exceed the
// largest lab the labd installation can ever run (its engine's, or its
// largest node's, CPUs and memory), as labd reports it in GET
// /api/status/capacity. When labd cannot be asked or does not say (no
// server yet, an older labd), the plan goes on: labd itself fails such a
// lab at admission (reason TooLargeForEngine).
func (r *labInstanceRequestResource) checkLargest(ctx context.Context, plan *labModel, resp *resource.ModifyPlanResponse) {
	if r.data == nil || r.data.client == nil || plan.ResourceLimits.IsUnknown() {
		return
	}
	lim := api.ResourceLimits{CPU: api.DefaultCPU, Memory: api.DefaultMemory}
	if rl := apiResources(plan.ResourceLimits); rl != nil {
		lim = *rl
	}
	max, ok := maxPerLab(ctx, r.data.client)
	if !ok {
		return
	}
	if want, err := api.ParseCPU(lim.CPU); err == nil {
		if most, err := api.ParseCPU(max.CPU); err == nil && want > most {
			resp.Diagnostics.AddAttributeError(path.Root("resource_limits").AtName("cpu"), "Lab larger than labd can run",
				fmt.Sprintf("resource_limits.cpu is %s, but the largest lab this labd installation can ever run has %s CPU (its engine's or largest node's); labd would fail the lab. Lower resource_limits.cpu.",
					lim.CPU, max.CPU))
		}
	}
	if want, err := api.ParseMemory(lim.Memory); err == nil {
		if most, err := api.ParseMemory(max.Memory); err == nil && want > most {
			resp.Diagnostics.AddAttributeError(path.Root("resource_limits").AtName("memory"), "Lab larger than labd can run",
				fmt.Sprintf("resource_limits.memory is %s, but the largest lab this labd installation can ever run has %s of memory; labd would fail the lab. Lower resource_limits.memory.",
					lim.Memory, max.Memory))
		}
	}
}
