package provider

// The plan-time capacity check: a lab whose resource_requests exceed what
// labd may reserve in total could only wait and then fail, so the plan
// says so on the attribute, before anything is applied.

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

// capacityTimeout bounds the plan-time read of labd's capacity: a plan
// must not hang on a labd that is away.
const capacityTimeout = 5 * time.Second

// capacityCache reads labd's capacity (GET /api/status/capacity) once per
// provider process (one terraform plan or apply): it does not change while
// a plan runs, and a class of 30 labs asks once, not 30 times. Both
// plan-time checks read it: requests against the total, limits against
// the most one lab may be given.
type capacityCache struct {
	mu   sync.Mutex
	done bool
	st   *api.CapacityStatus // nil: unknown (labd unreachable, or no leader yet)
}

// get returns labd's capacity, or nil when it cannot be had now; the
// reason is logged, and the checks are skipped: labd itself fails a lab
// that can never fit, so an unreachable labd at plan time costs only the
// early warning.
func (c *capacityCache) get(ctx context.Context, cl *client.Client) *api.CapacityStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return c.st
	}
	rctx, cancel := context.WithTimeout(ctx, capacityTimeout)
	defer cancel()
	st, err := cl.Capacity(rctx, 0)
	c.done = true
	if err != nil {
		tflog.Warn(ctx, "cannot read labd's capacity at plan time; resources are checked against it when the lab is admitted",
			map[string]any{"error": err.Error()})
		return nil
	}
	c.st = st
	return c.st
}

// checkCapacity adds an error on resource_requests.cpu or .memory when
// the planned requests exceed labd's total capacity.
func (r *labInstanceRequestResource) checkCapacity(ctx context.Context, plan *labModel, resp *resource.ModifyPlanResponse) {
	if r.data == nil || plan.ResourceRequests.IsNull() || plan.ResourceRequests.IsUnknown() || !allKnown(plan.ResourceRequests) {
		return
	}
	req := apiResources(plan.ResourceRequests)
	st := r.data.capacity.get(ctx, r.data.client)
	if req == nil || st == nil {
		return
	}
	for _, fe := range exceedsCapacity(*req, st.Total) {
		resp.Diagnostics.AddAttributeError(path.Root("resource_requests").AtName(fe.Field), "Requests exceed labd's capacity", fe.Message)
	}
}

// exceedsCapacity reports each requested amount above the total, by the
// attribute at fault ("cpu", "memory"). Pure.
func exceedsCapacity(req, total api.Resources) []api.FieldError {
	var out []api.FieldError
	if r, err := api.ParseCPU(req.CPU); err == nil {
		if t, err := api.ParseCPU(total.CPU); err == nil && r > t {
			out = append(out, api.FieldError{Field: "cpu", Message: fmt.Sprintf(
				"resource_requests.cpu = %q is more than labd may reserve for all labs together (cpu %s): the lab could never be admitted. "+
					"Ask for less, or raise labd's --capacity-cpu if the host has more.", req.CPU, total.CPU)})
		}
	}
	if r, err := api.ParseMemory(req.Memory); err == nil {
		if t, err := api.ParseMemory(total.Memory); err == nil && r > t {
			out = append(out, api.FieldError{Field: "memory", Message: fmt.Sprintf(
				"resource_requests.memory = %q is more than labd may reserve for all labs together (memory %s): the lab could never be admitted. "+
					"Ask for less, or raise labd's --capacity-memory if the host has more.", req.Memory, total.Memory)})
		}
	}
	return out
}
