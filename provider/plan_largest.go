package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// checkLargest refuses at plan time a lab whose resource limits exceed the
// largest lab the labd installation can ever run (its engine's, or its
// largest node's, CPUs and memory), as labd reports it in GET
// /api/status/capacity. When labd cannot be asked or does not say (no
// server yet, an older labd), the plan goes on: labd itself fails such a
// lab at admission (reason TooLargeForEngine).
func (r *labInstanceRequestResource) checkLargest(ctx context.Context, plan *labModel, resp *resource.ModifyPlanResponse) {
	if r.data == nil || r.data.client == nil || plan.ResourceLimits.IsUnknown() || !allKnown(plan.ResourceLimits) {
		return
	}
	lim := api.ResourceLimits{CPU: api.DefaultCPU, Memory: api.DefaultMemory}
	if rl := apiResources(plan.ResourceLimits); rl != nil {
		lim = *rl
	}
	st := r.data.capacity.get(ctx, r.data.client)
	if st == nil || st.MaxPerLab == nil {
		return
	}
	max := *st.MaxPerLab
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
