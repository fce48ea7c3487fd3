package provider

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/mapplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/internal/client"
	"github.com/labrm/terraform-provider-lab/internal/wait"
)

// Default timeouts of the timeouts block.
const (
	defaultCreateTimeout = 20 * time.Minute
	defaultUpdateTimeout = 20 * time.Minute
	defaultDeleteTimeout = 10 * time.Minute
)

var (
	_ resource.Resource                   = (*labInstanceRequestResource)(nil)
	_ resource.ResourceWithConfigure      = (*labInstanceRequestResource)(nil)
	_ resource.ResourceWithImportState    = (*labInstanceRequestResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*labInstanceRequestResource)(nil)
	_ resource.ResourceWithValidateConfig = (*labInstanceRequestResource)(nil)
)

// labInstanceRequestResource is lab_instance_request: one LabInstanceRequest.
type labInstanceRequestResource struct {
	data *providerData
	now  func() time.Time
}

func newLabInstanceRequestResource() resource.Resource {
	return &labInstanceRequestResource{now: time.Now}
}

// labModel is the resource's state: the lab's values, as labd holds them,
// and the Terraform-side settings of how apply waits. Status is never
// planned as known except id, uid and a container_id that can no longer
// change (see containerIDModifier).
type labModel struct {
	labValues
	WaitFor  types.String   `tfsdk:"wait_for"`
	Timeouts timeouts.Value `tfsdk:"timeouts"`
}

// waitFor is the phase to wait for; RUNNING unless set (import leaves it null).
func (m *labModel) waitFor() api.Phase {
	if m.WaitFor.IsNull() || m.WaitFor.IsUnknown() {
		return api.PhaseRunning
	}
	return api.Phase(m.WaitFor.ValueString())
}

// fromAPI records the server's object (see labValues.fromAPI), and
// wait_for's default where it is not set (after an import).
func (m *labModel) fromAPI(l *api.LabInstanceRequest) {
	m.labValues.fromAPI(l)
	if m.WaitFor.IsNull() || m.WaitFor.IsUnknown() {
		m.WaitFor = types.StringValue(string(api.PhaseRunning))
	}
}

func (r *labInstanceRequestResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_instance_request"
}

func (r *labInstanceRequestResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	// The lab's attributes (lab_instance_request_attributes.go), with what
	// only the resource has: validators, defaults, plan modifiers, and
	// descriptions that say what a change does.
	attrs := labResourceAttributes(map[string]resourceTuning{
		"id": tune(func(a *schema.StringAttribute) { a.PlanModifiers = keep }),
		"name": tune(func(a *schema.StringAttribute) {
			a.MarkdownDescription = "Name of the lab, unique in its namespace: a DNS-1123 label. Changing it replaces the lab."
			a.Validators, a.PlanModifiers = []validator.String{validName}, replace
		}),
		"namespace": tune(func(a *schema.StringAttribute) {
			a.MarkdownDescription = "Namespace of the lab (DNS-1123 label). Defaults to `default`. Changing it replaces the lab."
			a.Computed, a.Default = true, stringdefault.StaticString(api.DefaultNamespace)
			a.Validators, a.PlanModifiers = []validator.String{validName}, replace
		}),
		"lab_template": tune(func(a *schema.StringAttribute) {
			a.MarkdownDescription = "Container image the lab runs, e.g. `python:3.9-alpine`. Changing it replaces the lab."
			a.Validators, a.PlanModifiers = []validator.String{validImage}, replace
		}),
		"student_email": tune(func(a *schema.StringAttribute) {
			a.MarkdownDescription = "E-mail address of the student the lab is for. Changing it replaces the lab."
			a.Validators, a.PlanModifiers = []validator.String{validEmail}, replace
		}),
		"duration_minutes": tune(func(a *schema.Int64Attribute) {
			a.MarkdownDescription = fmt.Sprintf("How long the lab runs once started, %d to %d minutes. Updated in place; labd then ends the lab at its new time.", api.MinDurationMinutes, api.MaxDurationMinutes)
			a.Validators = []validator.Int64{validDuration}
		}),
		"scheduled_start_time": tune(func(a *schema.StringAttribute) {
			a.MarkdownDescription = "RFC 3339 time before which the lab stays `PENDING`; unset starts it at once. " +
				"Updated in place while the lab is `PENDING`; changing it later replaces the lab. " +
				"With a start further away than the create timeout, set `wait_for = \"PENDING\"`."
			a.Validators = []validator.String{validStart}
			a.PlanModifiers = []planmodifier.String{stringplanmodifier.RequiresReplaceIf(startedRequiresReplace,
				"Changing it after the lab has left PENDING replaces the lab.", "Changing it after the lab has left `PENDING` replaces the lab.")}
		}),
		"environment": tune(func(a *schema.MapAttribute) {
			a.MarkdownDescription = fmt.Sprintf("Environment variables of the lab container (at most %d; names match `[A-Za-z_][A-Za-z0-9_]*`). Changing them replaces the lab.", api.MaxEnvironment)
			a.Validators = []validator.Map{validEnv}
			a.PlanModifiers = []planmodifier.Map{mapplanmodifier.RequiresReplace()}
		}),
		"resource_limits": tune(func(a *schema.SingleNestedAttribute) {
			a.MarkdownDescription = fmt.Sprintf("CPU and memory limits of the container: what it may use at most (what labd reserves is `resource_requests`). Defaults to `{ cpu = %q, memory = %q }`. Changing them replaces the lab.", api.DefaultCPU, api.DefaultMemory)
			a.Computed, a.Default = true, objectdefault.StaticValue(types.ObjectValueMust(limitsAttrTypes, map[string]attr.Value{
				"cpu": types.StringValue(api.DefaultCPU), "memory": types.StringValue(api.DefaultMemory),
			}))
			a.PlanModifiers = []planmodifier.Object{objectplanmodifier.RequiresReplace()}
		}),
		"resource_limits.cpu": tune(func(a *schema.StringAttribute) {
			a.MarkdownDescription = "CPU cores, more than 0 and at most 8: a decimal (`\"0.5\"`, `\"2\"`) or millicores (`\"500m\"`)."
			a.Validators = []validator.String{validCPU}
		}),
		"resource_limits.memory": tune(func(a *schema.StringAttribute) {
			a.MarkdownDescription = "Memory, 6Mi to 64Gi, with an optional suffix Ki, Mi, Gi, Ti (or k, M, G, T), e.g. `\"512Mi\"`."
			a.Validators = []validator.String{validMemory}
		}),
		"labels": tune(func(a *schema.MapAttribute) {
			a.MarkdownDescription = "Labels of the lab, for selecting it (e.g. with the `lab_instance_requests` data source). Updated in place."
			a.Validators = []validator.Map{validLabels}
		}),
		"resource_requests": tune(func(a *schema.SingleNestedAttribute) {
			a.MarkdownDescription = fmt.Sprintf("CPU and memory the lab is guaranteed: labd's admission reserves them against the host's capacity, "+
				"while the container is capped at `resource_limits`; each at most its limit. "+
				"Defaults to `{ cpu = %q, memory = %q }`, each lowered to the limit where that is smaller, "+
				"so that 30 labs of a small image fit on a 2-core, 24 GiB host; an amount left out gets its default. "+
				"Requests above labd's whole capacity are an error at plan time (when labd can be reached then). "+
				"A lab that does not fit yet waits `PENDING` in labd's queue; apply logs its place (`TF_LOG=INFO`). Changing them replaces the lab.",
				api.DefaultRequestCPU, api.DefaultRequestMemory)
			a.Computed = true
			a.PlanModifiers = []planmodifier.Object{requestsDefault{}, objectplanmodifier.RequiresReplaceIf(requestsChanged,
				"Changing the amounts replaces the lab.", "Changing the amounts replaces the lab.")}
		}),
		"resource_requests.cpu": tune(func(a *schema.StringAttribute) {
			a.MarkdownDescription = fmt.Sprintf("CPU cores guaranteed, 0 to 8 and at most `resource_limits.cpu`: a decimal (`\"0.25\"`) or millicores (`\"250m\"`). "+
				"Defaults to `%q`, or the CPU limit if that is smaller.", api.DefaultRequestCPU)
			a.Computed = true
			a.Validators = []validator.String{validRequestCPU}
		}),
		"resource_requests.memory": tune(func(a *schema.StringAttribute) {
			a.MarkdownDescription = fmt.Sprintf("Memory guaranteed, 0 to 64Gi and at most `resource_limits.memory`, with an optional suffix Ki, Mi, Gi, Ti (or k, M, G, T), e.g. `\"256Mi\"`. "+
				"Defaults to `%q`, or the memory limit if that is smaller.", api.DefaultRequestMemory)
			a.Computed = true
			a.Validators = []validator.String{validRequestMemory}
		}),
		"workspace": tune(func(a *schema.SingleNestedAttribute) {
			a.MarkdownDescription = "The student's persistent workspace, mounted in the lab: one per namespace and student, " +
				"kept when the lab ends or is destroyed and mounted again by the student's later labs in the namespace " +
				"(see the `lab_workspaces` data source). Changing it replaces the lab."
			a.PlanModifiers = []planmodifier.Object{objectplanmodifier.RequiresReplace()}
		}),
		"workspace.mount_path": tune(func(a *schema.StringAttribute) {
			a.MarkdownDescription = "Where the workspace is mounted: an absolute, clean path such as `/home/student`, not `/` and not `/proc`, `/sys`, `/dev` or below them."
			a.Validators = []validator.String{validMountPath}
		}),
		"command": tune(func(a *schema.ListAttribute) {
			a.MarkdownDescription = fmt.Sprintf("Program the lab runs instead of the image's entrypoint (Docker's `ENTRYPOINT`), with its first arguments: "+
				"at most %d non-empty entries. Unset keeps the image's. Changing it replaces the lab.", api.MaxArgs)
			a.Validators = []validator.List{validCommand}
			a.PlanModifiers = []planmodifier.List{listplanmodifier.RequiresReplaceIf(listChanged, replaceDesc, replaceDesc)}
		}),
		"args": tune(func(a *schema.ListAttribute) {
			a.MarkdownDescription = fmt.Sprintf("Arguments of the entrypoint instead of the image's command (Docker's `CMD`): at most %d entries. "+
				"Unset keeps the image's. Changing them replaces the lab.", api.MaxArgs)
			a.Validators = []validator.List{validArgs}
			a.PlanModifiers = []planmodifier.List{listplanmodifier.RequiresReplaceIf(listChanged, replaceDesc, replaceDesc)}
		}),
		"port": tune(func(a *schema.Int64Attribute) {
			a.MarkdownDescription = fmt.Sprintf("Port the lab's app listens on, 1 to %d, to which labd's gateway forwards the student. "+
				"Unset: the image's only exposed port; a lab with neither has no `access_url`. Changing it replaces the lab.", api.MaxPort)
			a.Validators = []validator.Int64{validPort}
			a.PlanModifiers = []planmodifier.Int64{int64planmodifier.RequiresReplaceIf(int64Changed, replaceDesc, replaceDesc)}
		}),
		"readiness_path": tune(func(a *schema.StringAttribute) {
			a.MarkdownDescription = "HTTP path on `port`, like `/healthz`, that must answer with a status below 500 before the lab counts as `RUNNING`. " +
				"Unset: a TCP connection to the port is enough. Changing it replaces the lab."
			a.Validators = []validator.String{validReadinessPath}
			a.PlanModifiers = []planmodifier.String{stringplanmodifier.RequiresReplaceIf(stringChanged, replaceDesc, replaceDesc)}
		}),
		"idle_timeout_minutes": tune(func(a *schema.Int64Attribute) {
			a.MarkdownDescription = fmt.Sprintf("Ends the lab (`COMPLETED`, reason `Idle`) once nobody has used it through labd's gateway for this many minutes, "+
				"up to %d; unset or 0 never does. Updated in place.", api.MaxDurationMinutes)
			a.Validators = []validator.Int64{validIdleTimeout}
		}),
		"security_context": tune(func(a *schema.SingleNestedAttribute) {
			a.MarkdownDescription = "Hardening of the lab beyond labd's default profile. Changing it replaces the lab."
			a.PlanModifiers = []planmodifier.Object{objectplanmodifier.RequiresReplaceIf(securityChanged, replaceDesc, replaceDesc)}
		}),
		"security_context.run_as_user": tune(func(a *schema.Int64Attribute) {
			a.MarkdownDescription = fmt.Sprintf("Numeric user id the lab's processes run as, 0 to %d; unset keeps the image's user.", api.MaxRunAsUser)
			a.Validators = []validator.Int64{validRunAsUser}
		}),
		"security_context.read_only_root_filesystem": tune(func(a *schema.BoolAttribute) {
			a.MarkdownDescription = "Makes the image's file system read-only; the workspace and `/tmp` stay writable. Default `false`."
		}),

		"uid": tune(func(a *schema.StringAttribute) {
			a.MarkdownDescription = "Unique id labd gave the lab; a replaced lab gets a new one."
			a.PlanModifiers = keep
		}),
		"container_id": tune(func(a *schema.StringAttribute) { a.PlanModifiers = []planmodifier.String{containerIDModifier{}} }),
		"access_url": tune(func(a *schema.StringAttribute) {
			a.MarkdownDescription = "The lab's URL on labd's gateway, where the student reaches it once it runs and its app answers " +
				"(`/labs/<namespace>/<name>/`, or a host name of its own with a gateway domain); opened once with `?token=` and `access_token`. " +
				"Null for a lab without a port (a batch lab)."
		}),
		"resource_allocation": tune(func(a *schema.MapAttribute) {
			a.MarkdownDescription = "Resources labd reserved for the lab while it holds them."
		}),
		"resource_version": tune(func(a *schema.Int64Attribute) {
			a.MarkdownDescription = "Version of the lab object on labd; changes with every write to it."
		}),
		"endpoint": tune(func(a *schema.StringAttribute) {
			a.MarkdownDescription = "`host:port` where labd's gateway reaches the lab's app, once it runs; students use `access_url`."
		}),
		"last_activity": tune(func(a *schema.StringAttribute) {
			a.MarkdownDescription = "When a student last used the lab through labd's gateway (RFC 3339); it changes without any change of the configuration."
		}),
		"access_token": tune(func(a *schema.StringAttribute) {
			a.MarkdownDescription = "The lab's gateway access token, made with the lab: the student opens `access_url?token=<access_token>` once, " +
				"and the gateway keeps it in a cookie of that lab. Sensitive: read it with `terraform output -json` of an output marked sensitive. " +
				"Read from labd with a read-write API token (null with a read-only one); a token rotated on labd is read at the next refresh."
			// Never changed by an update; a replacement makes a new one.
			a.PlanModifiers = keep
		}),
	})
	attrs["wait_for"] = schema.StringAttribute{
		MarkdownDescription: "What `terraform apply` waits for: `RUNNING` (default) returns once the lab runs, and fails if it fails; " +
			"`PENDING` returns as soon as labd has accepted the lab, the only sensible choice for a start scheduled later than the create timeout.",
		Optional:   true,
		Computed:   true,
		Default:    stringdefault.StaticString(string(api.PhaseRunning)),
		Validators: []validator.String{validWaitFor},
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "A lab instance for one student: a `LabInstanceRequest` on labd, which runs it as a Docker container " +
			"from `lab_template` for `duration_minutes`, from `scheduled_start_time` on (or at once).\n\n" +
			"`terraform apply` returns when the lab is `RUNNING` (or, with `wait_for = \"PENDING\"`, as soon as labd has accepted it); " +
			"`terraform destroy` returns when labd has removed the lab and its container.",
		Attributes: attrs,
		Blocks: map[string]schema.Block{
			"timeouts": timeouts.Block(ctx, timeouts.Opts{
				Create: true, Update: true, Delete: true,
				CreateDescription: fmt.Sprintf("How long apply waits for a new lab to reach `wait_for`, e.g. `\"30m\"`; default `%s`. A `scheduled_start_time` further away needs `wait_for = \"PENDING\"`.", fmtDuration(defaultCreateTimeout)),
				UpdateDescription: fmt.Sprintf("How long an update may take, including waiting for a still-`PENDING` lab to reach `wait_for`; default `%s`.", fmtDuration(defaultUpdateTimeout)),
				DeleteDescription: fmt.Sprintf("How long destroy waits for labd to remove the lab and its container; default `%s`. Read from the state: apply a change of it before the destroy.", fmtDuration(defaultDeleteTimeout)),
			}),
		},
	}
}

func (r *labInstanceRequestResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = configureData(req.ProviderData, resp.Diagnostics.AddError)
}

func (r *labInstanceRequestResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan labModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := plan.Timeouts.Create(ctx, defaultCreateTimeout)
	resp.Diagnostics.Append(diags...)
	l, diags := plan.toAPI(ctx)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	created, err := r.data.client.Create(ctx, l)
	if err != nil {
		summary := "Error creating lab " + l.Key().String()
		if api.ErrorCode(err) == api.EALREADYEXISTS {
			resp.Diagnostics.AddError(summary, fmt.Sprintf("%s. To manage the existing lab with Terraform, import it: terraform import <address> %s", err, l.Key()))
			return
		}
		addAPIError(&resp.Diagnostics, summary, err)
		return
	}
	// Record the lab before waiting: if the wait fails or is interrupted,
	// Terraform keeps it (tainted) instead of orphaning it.
	plan.fromAPI(created)
	if plan.AccessToken, err = readAccessToken(ctx, r.data.client, created.Key()); err != nil {
		resp.Diagnostics.AddWarning("Access token not read", err.Error()+"\n\nThe next refresh reads it.")
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	tflog.Info(ctx, "created lab", map[string]any{"lab": created.Key().String(), "uid": created.Metadata.UID, "wait_for": string(plan.waitFor())})

	want := plan.waitFor()
	final, err := awaitLab(ctx, r.data.client, r.data.wait, created.Key(), created, timeout, "to be "+string(want), untilPhase(created.Key(), want))
	if final != nil {
		plan.fromAPI(final)
		resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	}
	if err != nil {
		resp.Diagnostics.AddError(fmt.Sprintf("Lab %s did not become %s", created.Key(), want),
			err.Error()+"\n\nThe lab was created and is kept in the state as tainted: the next apply replaces it.")
	}
}

func (r *labInstanceRequestResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state labModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	key := state.key()
	l, err := r.data.client.Get(ctx, key)
	if api.IsNotFound(err) {
		resp.Diagnostics.AddWarning("Lab no longer exists",
			fmt.Sprintf("Lab %s was not found on labd: it was deleted outside Terraform. It is removed from the state; the next apply creates it again.", key))
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Error reading lab "+key.String(), err.Error())
		return
	}
	// Labs that finished (COMPLETED, FAILED, TIMEOUT) are simply recorded:
	// the phase is status, not an argument, so it plans no change.
	state.fromAPI(l)
	if state.AccessToken, err = readAccessToken(ctx, r.data.client, key); err != nil {
		resp.Diagnostics.AddError("Error reading lab "+key.String(), err.Error())
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *labInstanceRequestResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state labModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := plan.Timeouts.Update(ctx, defaultUpdateTimeout)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	key := state.key()

	desired, diags := plan.toAPI(ctx)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	l, err := r.update(ctx, key, desired)
	if err != nil {
		addAPIError(&resp.Diagnostics, "Error updating lab "+key.String(), err)
		return
	}

	if want := plan.waitFor(); want == api.PhaseRunning && waitsOnUpdate(string(l.Status.Phase)) {
		final, err := awaitLab(ctx, r.data.client, r.data.wait, key, l, timeout, "to be "+string(want), untilPhase(key, want))
		if final != nil {
			l = final
		}
		if err != nil {
			r.record(ctx, &plan, l, resp)
			resp.Diagnostics.AddError(fmt.Sprintf("Lab %s did not become %s", key, want), err.Error())
			return
		}
	}
	r.record(ctx, &plan, l, resp)
}

// record stores the object after an update. A container_id planned from
// state (see containerIDModifier) is kept even if labd now reports
// another, since Terraform rejects a planned value that changes on apply;
// the warning says so and the next refresh records the new id.
func (r *labInstanceRequestResource) record(ctx context.Context, plan *labModel, l *api.LabInstanceRequest, resp *resource.UpdateResponse) {
	planned := plan.ContainerID
	plan.fromAPI(l)
	// The token does not change in an update: the one in the state stays
	// (it was planned from it); a refresh reads a rotated one.
	if plan.AccessToken.IsUnknown() {
		token, err := readAccessToken(ctx, r.data.client, l.Key())
		if err != nil {
			resp.Diagnostics.AddWarning("Access token not read", err.Error())
		}
		plan.AccessToken = token
	}
	if !planned.IsUnknown() && !planned.Equal(plan.ContainerID) {
		resp.Diagnostics.AddAttributeWarning(path.Root("container_id"), "Lab container changed during the update",
			fmt.Sprintf("labd now reports container %q for lab %s instead of %q; the next refresh records it.",
				plan.ContainerID.ValueString(), l.Key(), planned.ValueString()))
		plan.ContainerID = planned
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, plan)...)
}

// update writes the in-place arguments (duration_minutes,
// scheduled_start_time, idle_timeout_minutes, labels) onto the current
// object with its resource_version, re-reading and retrying on 409: the
// controller writes status concurrently, and Terraform owns exactly these
// fields.
func (r *labInstanceRequestResource) update(ctx context.Context, key api.Key, desired *api.LabInstanceRequest) (*api.LabInstanceRequest, error) {
	const maxConflicts = 10
	for attempt := 0; ; attempt++ {
		cur, err := r.data.client.Get(ctx, key)
		if err != nil {
			if api.IsNotFound(err) {
				return nil, fmt.Errorf("lab %s was deleted outside Terraform during the update: %w", key, err)
			}
			return nil, err
		}
		next := cur.DeepCopy()
		next.Spec.DurationMinutes = desired.Spec.DurationMinutes
		next.Spec.ScheduledStartTime = desired.Spec.ScheduledStartTime
		next.Spec.IdleTimeoutMinutes = desired.Spec.IdleTimeoutMinutes
		next.Metadata.Labels = desired.Metadata.Labels
		if api.SpecEqual(&next.Spec, &cur.Spec) && maps.Equal(next.Metadata.Labels, cur.Metadata.Labels) {
			return cur, nil // nothing to write (only wait_for or timeouts changed)
		}
		l, err := r.data.client.Update(ctx, next)
		if err == nil {
			return l, nil
		}
		if !api.IsConflict(err) || attempt+1 >= maxConflicts {
			return nil, err
		}
		tflog.Debug(ctx, "update conflicted; re-reading", map[string]any{"lab": key.String(), "attempt": attempt + 1})
		if err := wait.Sleep(ctx, client.RetryPolicy{MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second}.Backoff(attempt)); err != nil {
			return nil, err
		}
	}
}

func (r *labInstanceRequestResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state labModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := state.Timeouts.Delete(ctx, defaultDeleteTimeout)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	key := state.key()

	l, deleted, err := r.data.client.Delete(ctx, key)
	switch {
	case api.IsNotFound(err):
		return // already gone
	case err != nil:
		resp.Diagnostics.AddError("Error deleting lab "+key.String(), err.Error())
		return
	case deleted:
		return
	}
	// labd marked the lab; its controller stops and removes the container,
	// then drops the finalizer and the row. Done when labd answers 404.
	if _, err := awaitLab(ctx, r.data.client, r.data.wait, key, l, timeout, "to be deleted", untilGone); err != nil {
		resp.Diagnostics.AddError("Lab "+key.String()+" was not deleted", err.Error())
	}
}

func (r *labInstanceRequestResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	key, err := parseImportID(req.ID)
	if err != nil {
		resp.Diagnostics.AddError("Invalid import id",
			fmt.Sprintf("Import id %q: %v. Use namespace/name (e.g. default/my-lab) or just the name for the default namespace.", req.ID, err))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), key.String())...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("name"), key.Name)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("namespace"), key.Namespace)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("wait_for"), string(api.PhaseRunning))...)
}

// fmtDuration renders a default timeout as users write it ("20m").
func fmtDuration(d time.Duration) string {
	s := d.String() // "20m0s", "1h0m0s", "1m30s"
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
