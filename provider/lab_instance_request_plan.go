package provider

// Plan-time behaviour of lab_instance_request: whole-config validation,
// the far-future-start check, and the plan modifiers that decide which
// computed values are known before apply.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// ValidateConfig rejects what the server would reject as a whole: only
// individual attributes have validators.
func (r *labInstanceRequestResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var env types.Map
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("environment"), &env)...)
	if !env.IsNull() && !env.IsUnknown() && len(env.Elements()) > api.MaxEnvironment {
		resp.Diagnostics.AddAttributeError(path.Root("environment"), "Too many environment variables",
			fmt.Sprintf("environment has %d entries; labd accepts at most %d.", len(env.Elements()), api.MaxEnvironment))
	}
	// Requests at most the limits, the configured or the default ones.
	var requests, limits types.Object
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("resource_requests"), &requests)...)
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("resource_limits"), &limits)...)
	if resp.Diagnostics.HasError() || requests.IsNull() || requests.IsUnknown() || limits.IsUnknown() {
		return
	}
	lim := &api.ResourceLimits{CPU: api.DefaultCPU, Memory: api.DefaultMemory}
	if !limits.IsNull() {
		lim = apiResources(limits)
	}
	for _, fe := range api.CheckRequestsWithinLimits(*apiResources(requests), *lim) {
		if p, ok := attrPath(fe.Field); ok {
			resp.Diagnostics.AddAttributeError(p, "Request above the limit", fmt.Sprintf("%s %s.", strings.TrimPrefix(fe.Field, "spec."), fe.Message))
		}
	}
}

// ModifyPlan refuses, at plan time, requests that exceed labd's capacity
// (checkCapacity), a lab larger than labd can ever run (checkLargest), and
// a wait that can only time out: waiting for RUNNING
// on a lab scheduled to start after the timeout has passed.
func (r *labInstanceRequestResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return // destroy
	}
	var plan labModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if !resp.Diagnostics.HasError() {
		// A new lab, or new requests (which replace it), must fit labd at all.
		var prior labModel
		if req.State.Raw.IsNull() {
			r.checkCapacity(ctx, &plan, resp)
		} else if resp.Diagnostics.Append(req.State.Get(ctx, &prior)...); !resp.Diagnostics.HasError() && !plan.ResourceRequests.Equal(prior.ResourceRequests) {
			r.checkCapacity(ctx, &plan, resp)
		}
		r.checkLargest(ctx, &plan, resp)
	}
	if resp.Diagnostics.HasError() || plan.WaitFor.IsUnknown() || plan.waitFor() != api.PhaseRunning ||
		plan.ScheduledStartTime.IsNull() || plan.ScheduledStartTime.IsUnknown() {
		return
	}
	start, err := api.ParseStartTime(plan.ScheduledStartTime.ValueString())
	if err != nil || start.IsZero() {
		return // the attribute's validator reports it
	}
	op, timeout := "create", time.Duration(0)
	var diags diag.Diagnostics
	if req.State.Raw.IsNull() {
		timeout, diags = plan.Timeouts.Create(ctx, defaultCreateTimeout)
	} else {
		// An update waits only for a lab still before RUNNING, and only
		// when there is something to update.
		var state labModel
		resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
		if resp.Diagnostics.HasError() || !waitsOnUpdate(state.Phase.ValueString()) || !argumentsChanged(&plan, &state) {
			return
		}
		op = "update"
		timeout, diags = plan.Timeouts.Update(ctx, defaultUpdateTimeout)
	}
	resp.Diagnostics.Append(diags...)
	if until := start.Sub(r.now()); until > timeout {
		resp.Diagnostics.AddAttributeError(path.Root("scheduled_start_time"), "Waiting for RUNNING would time out",
			fmt.Sprintf("scheduled_start_time %s is %s from now, later than the %s timeout (%s), so waiting for the lab to be RUNNING could only time out. "+
				"Set wait_for = \"PENDING\": terraform then returns as soon as labd has accepted the lab, which starts by itself at its scheduled time. "+
				"Or raise timeouts.%s above %s.",
				plan.ScheduledStartTime.ValueString(), until.Round(time.Minute), op, timeout, op, until.Round(time.Minute)))
	}
}

// waitsOnUpdate: phases in which an update still waits for wait_for.
func waitsOnUpdate(phase string) bool {
	return phase == string(api.PhasePending) || phase == string(api.PhaseProvisioning)
}

// argumentsChanged reports whether an update has anything to do.
func argumentsChanged(plan, state *labModel) bool {
	return !plan.DurationMinutes.Equal(state.DurationMinutes) || !plan.Labels.Equal(state.Labels) ||
		!plan.IdleTimeoutMinutes.Equal(state.IdleTimeoutMinutes) ||
		!plan.ScheduledStartTime.Equal(state.ScheduledStartTime) || !plan.WaitFor.Equal(state.WaitFor) ||
		!plan.Timeouts.Equal(state.Timeouts)
}

// startedRequiresReplace: labd accepts a new scheduled_start_time only while
// the lab is PENDING; later, the change needs a new lab.
func startedRequiresReplace(ctx context.Context, req planmodifier.StringRequest, resp *stringplanmodifier.RequiresReplaceIfFuncResponse) {
	var phase types.String
	resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("phase"), &phase)...)
	resp.RequiresReplace = !phase.IsNull() && phase.ValueString() != string(api.PhasePending)
}

// containerIDModifier keeps container_id from state only once it can no
// longer change: the lab has a container and has left PROVISIONING (a
// container is created, and possibly replaced, only while PROVISIONING).
// Before that the id is unknown until apply, as it should be: keeping the
// state's value would hide the container a re-provisioning creates. A
// replacement of the lab plans it from scratch (no state), so a new lab's
// new container always shows as unknown. Should labd still report another
// id after an in-place update (it never re-creates a container once RUNNING),
// Update keeps the planned value and warns, and the next refresh records it.
type containerIDModifier struct{}

func (containerIDModifier) Description(context.Context) string {
	return "Once the lab has a container and has left PROVISIONING, the container id does not change."
}
func (m containerIDModifier) MarkdownDescription(ctx context.Context) string {
	return m.Description(ctx)
}

func (containerIDModifier) PlanModifyString(ctx context.Context, req planmodifier.StringRequest, resp *planmodifier.StringResponse) {
	if req.State.Raw.IsNull() || !req.PlanValue.IsUnknown() || req.ConfigValue.IsUnknown() ||
		req.StateValue.IsNull() || req.StateValue.ValueString() == "" {
		return
	}
	var phase types.String
	resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("phase"), &phase)...)
	switch api.Phase(phase.ValueString()) {
	case api.PhaseRunning, api.PhaseCompleted, api.PhaseFailed, api.PhaseTimeout:
		resp.PlanValue = req.StateValue
	}
}

// requestsDefault plans resource_requests, or an amount of them, left out
// of the configuration as labd will default them: api.DefaultRequests of
// the planned limits, known at plan time so that a plan can be checked
// against capacity. A lab in the state keeps the spelling it has of a
// defaulted amount when the amount is the same, and keeps no requests when
// it has none (created before labd had requests: labd reserves the
// defaults for it without recording them, and the plan must not replace it
// for that).
//
// The amounts are Optional and Computed rather than Required so that
// Terraform proposes the state's requests when the configuration has none;
// for a nested attribute whose attributes are not all computed, it proposes
// null instead, and the plan would never settle.
type requestsDefault struct{}

func (requestsDefault) Description(context.Context) string {
	return fmt.Sprintf("Unset: %s CPU and %s memory, each lowered to the limit where that is smaller.", api.DefaultRequestCPU, api.DefaultRequestMemory)
}
func (m requestsDefault) MarkdownDescription(ctx context.Context) string { return m.Description(ctx) }

func (requestsDefault) PlanModifyObject(ctx context.Context, req planmodifier.ObjectRequest, resp *planmodifier.ObjectResponse) {
	if req.Plan.Raw.IsNull() || req.ConfigValue.IsUnknown() {
		return // destroy, or requests known only at apply
	}
	cfg := map[string]attr.Value{"cpu": types.StringNull(), "memory": types.StringNull()}
	if !req.ConfigValue.IsNull() {
		cfg = req.ConfigValue.Attributes()
		if !cfg["cpu"].IsNull() && !cfg["memory"].IsNull() {
			return // the user's own
		}
	}
	creating := req.State.Raw.IsNull()
	if !creating && req.ConfigValue.IsNull() && req.StateValue.IsNull() {
		resp.PlanValue = req.StateValue // a lab from before requests
		return
	}
	var limits types.Object
	resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root("resource_limits"), &limits)...)
	if resp.Diagnostics.HasError() {
		return
	}
	lim := api.ResourceLimits{CPU: api.DefaultCPU, Memory: api.DefaultMemory}
	known := !limits.IsUnknown() && allKnown(limits)
	if known && !limits.IsNull() {
		lim = *apiResources(limits)
	}
	def := api.DefaultRequests(lim)
	var prior map[string]attr.Value
	if !creating && !req.StateValue.IsNull() && !req.StateValue.IsUnknown() {
		prior = req.StateValue.Attributes()
	}
	amount := func(name, value string, same func(a, b string) bool) attr.Value {
		if c := cfg[name]; !c.IsNull() {
			return c
		}
		if !known {
			return types.StringUnknown()
		}
		if p, ok := prior[name].(types.String); ok && !p.IsNull() && !p.IsUnknown() && same(p.ValueString(), value) {
			return p
		}
		return types.StringValue(value)
	}
	resp.PlanValue = types.ObjectValueMust(requestsAttrTypes, map[string]attr.Value{
		"cpu":    amount("cpu", def.CPU, sameCPU),
		"memory": amount("memory", def.Memory, sameMemory),
	})
}

// allKnown reports whether an object's attributes are all known.
func allKnown(o types.Object) bool {
	for _, v := range o.Attributes() {
		if v.IsUnknown() {
			return false
		}
	}
	return true
}

const replaceDesc = "Changing it replaces the lab."

// The RequiresReplaceIf functions below replace the lab only when the
// value labd would hold changes: forms that mean the same (an unset port
// and 0, no list and [], "0.05" and "50m") update nothing in place.

func requestsChanged(_ context.Context, req planmodifier.ObjectRequest, resp *objectplanmodifier.RequiresReplaceIfFuncResponse) {
	p, s := apiResources(req.PlanValue), apiResources(req.StateValue)
	resp.RequiresReplace = p == nil || s == nil || !allKnown(req.PlanValue) || !sameCPU(p.CPU, s.CPU) || !sameMemory(p.Memory, s.Memory)
}

func listChanged(_ context.Context, req planmodifier.ListRequest, resp *listplanmodifier.RequiresReplaceIfFuncResponse) {
	empty := func(l types.List) bool { return l.IsNull() || !l.IsUnknown() && len(l.Elements()) == 0 }
	resp.RequiresReplace = !(empty(req.PlanValue) && empty(req.StateValue))
}

func int64Changed(_ context.Context, req planmodifier.Int64Request, resp *int64planmodifier.RequiresReplaceIfFuncResponse) {
	resp.RequiresReplace = req.PlanValue.IsUnknown() || req.PlanValue.ValueInt64() != req.StateValue.ValueInt64()
}

func stringChanged(_ context.Context, req planmodifier.StringRequest, resp *stringplanmodifier.RequiresReplaceIfFuncResponse) {
	resp.RequiresReplace = req.PlanValue.IsUnknown() || req.PlanValue.ValueString() != req.StateValue.ValueString()
}

func securityChanged(_ context.Context, req planmodifier.ObjectRequest, resp *objectplanmodifier.RequiresReplaceIfFuncResponse) {
	if req.PlanValue.IsUnknown() || !allKnown(req.PlanValue) {
		resp.RequiresReplace = true
		return
	}
	p, s := apiSecurity(req.PlanValue), apiSecurity(req.StateValue)
	none := api.SecurityContext{}
	if p == nil {
		p = &none
	}
	if s == nil {
		s = &none
	}
	same := p.ReadOnlyRootFilesystem == s.ReadOnlyRootFilesystem &&
		(p.RunAsUser == nil) == (s.RunAsUser == nil) && (p.RunAsUser == nil || *p.RunAsUser == *s.RunAsUser)
	resp.RequiresReplace = !same
}
