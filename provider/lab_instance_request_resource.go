package provider

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
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

// labModel is the resource's state. Arguments first, then the computed
// status, which is never planned as known except id, uid and a
// container_id that can no longer change (see containerIDModifier).
type labModel struct {
	ID                 types.String   `tfsdk:"id"`
	Name               types.String   `tfsdk:"name"`
	Namespace          types.String   `tfsdk:"namespace"`
	LabTemplate        types.String   `tfsdk:"lab_template"`
	StudentEmail       types.String   `tfsdk:"student_email"`
	DurationMinutes    types.Int64    `tfsdk:"duration_minutes"`
	ScheduledStartTime types.String   `tfsdk:"scheduled_start_time"`
	Environment        types.Map      `tfsdk:"environment"`
	ResourceLimits     types.Object   `tfsdk:"resource_limits"`
	Labels             types.Map      `tfsdk:"labels"`
	WaitFor            types.String   `tfsdk:"wait_for"`
	Timeouts           timeouts.Value `tfsdk:"timeouts"`

	UID                types.String `tfsdk:"uid"`
	Phase              types.String `tfsdk:"phase"`
	ContainerID        types.String `tfsdk:"container_id"`
	AccessURL          types.String `tfsdk:"access_url"`
	StartedAt          types.String `tfsdk:"started_at"`
	CompletedAt        types.String `tfsdk:"completed_at"`
	ErrorMessage       types.String `tfsdk:"error_message"`
	ResourceAllocation types.Map    `tfsdk:"resource_allocation"`
	ResourceVersion    types.Int64  `tfsdk:"resource_version"`
}

func (m *labModel) key() api.Key {
	return api.Key{Namespace: m.Namespace.ValueString(), Name: m.Name.ValueString()}
}

// waitFor is the phase to wait for; RUNNING unless set (import leaves it null).
func (m *labModel) waitFor() api.Phase {
	if m.WaitFor.IsNull() || m.WaitFor.IsUnknown() {
		return api.PhaseRunning
	}
	return api.Phase(m.WaitFor.ValueString())
}

// toAPI builds the manifest of a planned lab.
func (m *labModel) toAPI(ctx context.Context) (*api.LabInstanceRequest, diag.Diagnostics) {
	var diags diag.Diagnostics
	env, d := apiMap(ctx, m.Environment)
	diags.Append(d...)
	labels, d := apiMap(ctx, m.Labels)
	diags.Append(d...)
	l := &api.LabInstanceRequest{
		APIVersion: api.APIVersion, Kind: api.Kind,
		Metadata: api.ObjectMeta{Name: m.Name.ValueString(), Namespace: m.Namespace.ValueString(), Labels: labels},
		Spec: api.Spec{
			LabTemplate:        m.LabTemplate.ValueString(),
			StudentEmail:       m.StudentEmail.ValueString(),
			DurationMinutes:    int(m.DurationMinutes.ValueInt64()),
			ScheduledStartTime: m.ScheduledStartTime.ValueString(),
			Environment:        env,
			ResourceLimits:     apiLimits(m.ResourceLimits),
		},
	}
	return l, diags
}

// fromAPI records the server's object. m holds the prior values (plan or
// state): where the server's answer is equivalent to what the user wrote
// (an empty map for a null one, "500m" for "0.5"), the user's form is kept
// so that plans settle.
func (m *labModel) fromAPI(l *api.LabInstanceRequest) {
	m.ID = types.StringValue(l.Key().String())
	m.Name = types.StringValue(l.Metadata.Name)
	m.Namespace = types.StringValue(l.Metadata.Namespace)
	m.LabTemplate = types.StringValue(l.Spec.LabTemplate)
	m.StudentEmail = types.StringValue(l.Spec.StudentEmail)
	m.DurationMinutes = types.Int64Value(int64(l.Spec.DurationMinutes))
	m.ScheduledStartTime = startValue(l.Spec.ScheduledStartTime, m.ScheduledStartTime)
	m.Environment = mapValue(l.Spec.Environment, m.Environment)
	m.ResourceLimits = limitsValue(l.Spec.ResourceLimits, m.ResourceLimits)
	m.Labels = mapValue(l.Metadata.Labels, m.Labels)
	if m.WaitFor.IsNull() || m.WaitFor.IsUnknown() {
		m.WaitFor = types.StringValue(string(api.PhaseRunning))
	}

	m.UID = types.StringValue(l.Metadata.UID)
	m.Phase = types.StringValue(string(l.Status.Phase))
	m.ContainerID = optString(l.Status.ContainerID)
	m.AccessURL = optString(l.Status.AccessURL)
	m.StartedAt = timeString(l.Status.StartedAt)
	m.CompletedAt = timeString(l.Status.CompletedAt)
	m.ErrorMessage = optString(l.Status.ErrorMessage)
	m.ResourceAllocation = mapValue(l.Status.ResourceAllocation, types.MapNull(types.StringType))
	m.ResourceVersion = types.Int64Value(l.Metadata.ResourceVersion)
}

func (r *labInstanceRequestResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_instance_request"
}

func (r *labInstanceRequestResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	computed := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{MarkdownDescription: desc, Computed: true}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "A lab instance for one student: a `LabInstanceRequest` on labd, which runs it as a Docker container " +
			"from `lab_template` for `duration_minutes`, from `scheduled_start_time` on (or at once).\n\n" +
			"`terraform apply` returns when the lab is `RUNNING` (or, with `wait_for = \"PENDING\"`, as soon as labd has accepted it); " +
			"`terraform destroy` returns when labd has removed the lab and its container.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "`namespace/name` of the lab.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"name": schema.StringAttribute{
				MarkdownDescription: "Name of the lab, unique in its namespace: a DNS-1123 label. Changing it replaces the lab.",
				Required:            true,
				Validators:          []validator.String{validName},
				PlanModifiers:       replace,
			},
			"namespace": schema.StringAttribute{
				MarkdownDescription: "Namespace of the lab (DNS-1123 label). Defaults to `default`. Changing it replaces the lab.",
				Optional:            true,
				Computed:            true,
				Default:             stringdefault.StaticString(api.DefaultNamespace),
				Validators:          []validator.String{validName},
				PlanModifiers:       replace,
			},
			"lab_template": schema.StringAttribute{
				MarkdownDescription: "Container image the lab runs, e.g. `python:3.9-alpine`. Changing it replaces the lab.",
				Required:            true,
				Validators:          []validator.String{validImage},
				PlanModifiers:       replace,
			},
			"student_email": schema.StringAttribute{
				MarkdownDescription: "E-mail address of the student the lab is for. Changing it replaces the lab.",
				Required:            true,
				Validators:          []validator.String{validEmail},
				PlanModifiers:       replace,
			},
			"duration_minutes": schema.Int64Attribute{
				MarkdownDescription: fmt.Sprintf("How long the lab runs once started, %d to %d minutes. Updated in place; labd then ends the lab at its new time.", api.MinDurationMinutes, api.MaxDurationMinutes),
				Required:            true,
				Validators:          []validator.Int64{validDuration},
			},
			"scheduled_start_time": schema.StringAttribute{
				MarkdownDescription: "RFC 3339 time before which the lab stays `PENDING`; unset starts it at once. " +
					"Updated in place while the lab is `PENDING`; changing it later replaces the lab. " +
					"With a start further away than the create timeout, set `wait_for = \"PENDING\"`.",
				Optional:   true,
				Validators: []validator.String{validStart},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplaceIf(startedRequiresReplace,
					"Changing it after the lab has left PENDING replaces the lab.", "Changing it after the lab has left `PENDING` replaces the lab.")},
			},
			"environment": schema.MapAttribute{
				MarkdownDescription: fmt.Sprintf("Environment variables of the lab container (at most %d; names match `[A-Za-z_][A-Za-z0-9_]*`). Changing them replaces the lab.", api.MaxEnvironment),
				ElementType:         types.StringType,
				Optional:            true,
				Validators:          []validator.Map{validEnv},
				PlanModifiers:       []planmodifier.Map{mapplanmodifier.RequiresReplace()},
			},
			"resource_limits": schema.SingleNestedAttribute{
				MarkdownDescription: fmt.Sprintf("CPU and memory limits of the container, also reserved against labd's host capacity. Defaults to `{ cpu = %q, memory = %q }`. Changing them replaces the lab.", api.DefaultCPU, api.DefaultMemory),
				Optional:            true,
				Computed:            true,
				Default: objectdefault.StaticValue(types.ObjectValueMust(limitsAttrTypes, map[string]attr.Value{
					"cpu": types.StringValue(api.DefaultCPU), "memory": types.StringValue(api.DefaultMemory),
				})),
				PlanModifiers: []planmodifier.Object{objectplanmodifier.RequiresReplace()},
				Attributes: map[string]schema.Attribute{
					"cpu": schema.StringAttribute{
						MarkdownDescription: "CPU cores, more than 0 and at most 8: a decimal (`\"0.5\"`, `\"2\"`) or millicores (`\"500m\"`).",
						Required:            true,
						Validators:          []validator.String{validCPU},
					},
					"memory": schema.StringAttribute{
						MarkdownDescription: "Memory, 6Mi to 64Gi, with an optional suffix Ki, Mi, Gi, Ti (or k, M, G, T), e.g. `\"512Mi\"`.",
						Required:            true,
						Validators:          []validator.String{validMemory},
					},
				},
			},
			"labels": schema.MapAttribute{
				MarkdownDescription: "Labels of the lab, for selecting it (e.g. with the `lab_instance_requests` data source). Updated in place.",
				ElementType:         types.StringType,
				Optional:            true,
				Validators:          []validator.Map{validLabels},
			},
			"wait_for": schema.StringAttribute{
				MarkdownDescription: "What `terraform apply` waits for: `RUNNING` (default) returns once the lab runs, and fails if it fails; " +
					"`PENDING` returns as soon as labd has accepted the lab, the only sensible choice for a start scheduled later than the create timeout.",
				Optional:   true,
				Computed:   true,
				Default:    stringdefault.StaticString(string(api.PhaseRunning)),
				Validators: []validator.String{validWaitFor},
			},

			"uid": schema.StringAttribute{
				MarkdownDescription: "Unique id labd gave the lab; a replaced lab gets a new one.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"phase": computed("Phase of the lab: `PENDING`, `PROVISIONING`, `RUNNING`, `COMPLETED`, `FAILED` or `TIMEOUT`."),
			"container_id": schema.StringAttribute{
				MarkdownDescription: "Id of the lab's Docker container, once it has one.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{containerIDModifier{}},
			},
			"access_url":    computed("Where the student reaches the lab (its published ports), once it runs."),
			"started_at":    computed("When the lab started running (RFC 3339)."),
			"completed_at":  computed("When the lab ended (RFC 3339)."),
			"error_message": computed("Why the lab failed, if it did."),
			"resource_allocation": schema.MapAttribute{
				MarkdownDescription: "Resources labd reserved for the lab while it holds them.",
				ElementType:         types.StringType,
				Computed:            true,
			},
			"resource_version": schema.Int64Attribute{
				MarkdownDescription: "Version of the lab object on labd; changes with every write to it.",
				Computed:            true,
			},
		},
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
	if !planned.IsUnknown() && !planned.Equal(plan.ContainerID) {
		resp.Diagnostics.AddAttributeWarning(path.Root("container_id"), "Lab container changed during the update",
			fmt.Sprintf("labd now reports container %q for lab %s instead of %q; the next refresh records it.",
				plan.ContainerID.ValueString(), l.Key(), planned.ValueString()))
		plan.ContainerID = planned
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, plan)...)
}

// update writes the in-place arguments (duration_minutes,
// scheduled_start_time, labels) onto the current object with its
// resource_version, re-reading and retrying on 409: the controller writes
// status concurrently, and Terraform owns exactly these fields.
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
