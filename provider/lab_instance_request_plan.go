package provider

// Plan-time behaviour of lab_instance_request: whole-config validation,
// the far-future-start check, and the plan modifiers that decide which
// computed values are known before apply.

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
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
}

// ModifyPlan refuses, at plan time, a wait that can only time out: waiting
// for RUNNING on a lab scheduled to start after the timeout has passed.
func (r *labInstanceRequestResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return // destroy
	}
	var plan labModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
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
