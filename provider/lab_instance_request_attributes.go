package provider

// The lab's attributes, defined once for lab_instance_request and both data
// sources: labAttributes says what each attribute is, labValues holds them
// as Terraform values, and fromAPI and toAPI are the one conversion from
// and to the API object. A new field of the lab is
//
//   - an entry in labAttributes: its type, who writes it, what it is;
//   - a field of labValues;
//   - a line in fromAPI and, for an argument, in toAPI;
//
// and then appears in the resource and both data sources. What only the
// resource has (validators, defaults, plan modifiers, a description of what
// a change does) is its tuning, in lab_instance_request_resource.go; the
// data sources show every attribute computed. A value type the builders
// below do not know yet (a set, a float) is one case in each of them.

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	dschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	rschema "github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// labRole says who writes an attribute.
type labRole int

const (
	roleRequired labRole = iota // an argument users must set
	roleOptional                // an argument users may leave out
	roleStatus                  // computed by labd, never written by users
)

// labAttr is one attribute of a lab.
type labAttr struct {
	role labRole
	// typ is the type of the value: types.StringType, types.Int64Type,
	// types.BoolType, or a types.MapType or types.ListType of strings. Nil
	// for an object, whose attributes are attrs.
	typ   attr.Type
	attrs map[string]labAttr
	// about says what the value is. It is the data sources' description,
	// and the resource's unless its tuning says more.
	about string
	// sensitive keeps the value out of plans and output, wherever it shows.
	sensitive bool
}

// labAttributes is a lab as Terraform shows it: metadata and spec as
// arguments, status computed.
var labAttributes = map[string]labAttr{
	"id":                   {role: roleStatus, typ: types.StringType, about: "`namespace/name` of the lab."},
	"name":                 {role: roleRequired, typ: types.StringType, about: "Name of the lab."},
	"namespace":            {role: roleOptional, typ: types.StringType, about: "Namespace of the lab."},
	"uid":                  {role: roleStatus, typ: types.StringType, about: "Unique id labd gave the lab."},
	"lab_template":         {role: roleRequired, typ: types.StringType, about: "Container image the lab runs."},
	"student_email":        {role: roleRequired, typ: types.StringType, about: "E-mail address of the student the lab is for."},
	"duration_minutes":     {role: roleRequired, typ: types.Int64Type, about: "How long the lab runs once started, in minutes."},
	"scheduled_start_time": {role: roleOptional, typ: types.StringType, about: "RFC 3339 time before which the lab stays PENDING, if any."},
	"environment":          {role: roleOptional, typ: types.MapType{ElemType: types.StringType}, about: "Environment variables of the lab container."},
	"resource_limits": {role: roleOptional, about: "CPU and memory limits of the lab container.", attrs: map[string]labAttr{
		"cpu":    {role: roleRequired, typ: types.StringType, about: "CPU cores."},
		"memory": {role: roleRequired, typ: types.StringType, about: "Memory."},
	}},
	"labels": {role: roleOptional, typ: types.MapType{ElemType: types.StringType}, about: "Labels of the lab."},
	"resource_requests": {role: roleOptional, about: "CPU and memory labd reserves for the lab: what it is guaranteed.", attrs: map[string]labAttr{
		"cpu":    {role: roleOptional, typ: types.StringType, about: "CPU cores."},
		"memory": {role: roleOptional, typ: types.StringType, about: "Memory."},
	}},
	"workspace": {role: roleOptional, about: "The student's persistent workspace, mounted in the lab.", attrs: map[string]labAttr{
		"mount_path": {role: roleRequired, typ: types.StringType, about: "Where the workspace is mounted in the lab."},
	}},
	"command":              {role: roleOptional, typ: types.ListType{ElemType: types.StringType}, about: "Entrypoint the lab runs instead of the image's."},
	"args":                 {role: roleOptional, typ: types.ListType{ElemType: types.StringType}, about: "Arguments of the entrypoint, instead of the image's command."},
	"port":                 {role: roleOptional, typ: types.Int64Type, about: "Port the lab's app listens on."},
	"readiness_path":       {role: roleOptional, typ: types.StringType, about: "HTTP path that must answer before the lab counts as `RUNNING`."},
	"idle_timeout_minutes": {role: roleOptional, typ: types.Int64Type, about: "Minutes without use after which labd ends the lab."},
	"security_context": {role: roleOptional, about: "Hardening of the lab beyond labd's default profile.", attrs: map[string]labAttr{
		"run_as_user":               {role: roleOptional, typ: types.Int64Type, about: "Numeric user id the lab's processes run as."},
		"read_only_root_filesystem": {role: roleOptional, typ: types.BoolType, about: "Whether the image's file system is read-only."},
	}},

	"phase":               {role: roleStatus, typ: types.StringType, about: "Phase of the lab: `PENDING`, `PROVISIONING`, `RUNNING`, `COMPLETED`, `FAILED` or `TIMEOUT`."},
	"container_id":        {role: roleStatus, typ: types.StringType, about: "Id of the lab's Docker container, once it has one."},
	"access_url":          {role: roleStatus, typ: types.StringType, about: "The lab's URL on labd's gateway, where the student reaches it once it runs: opened once with `?token=` and `access_token`."},
	"started_at":          {role: roleStatus, typ: types.StringType, about: "When the lab started running (RFC 3339)."},
	"completed_at":        {role: roleStatus, typ: types.StringType, about: "When the lab ended (RFC 3339)."},
	"error_message":       {role: roleStatus, typ: types.StringType, about: "Why the lab failed, if it did."},
	"resource_allocation": {role: roleStatus, typ: types.MapType{ElemType: types.StringType}, about: "Resources labd reserved for the lab."},
	"resource_version":    {role: roleStatus, typ: types.Int64Type, about: "Version of the lab object on labd."},
	"endpoint":            {role: roleStatus, typ: types.StringType, about: "`host:port` where labd's gateway reaches the lab's app."},
	"last_activity":       {role: roleStatus, typ: types.StringType, about: "When a student last used the lab through labd's gateway (RFC 3339)."},
	"access_token": {role: roleStatus, typ: types.StringType, sensitive: true,
		about: "The lab's gateway access token: the student opens `access_url?token=<access_token>` once. Read from labd's `GET .../access` with a read-write API token; null with a read-only one."},
}

// The object types of the nested attributes.
var (
	limitsAttrTypes    = objectAttrTypes("resource_limits")
	requestsAttrTypes  = objectAttrTypes("resource_requests")
	workspaceAttrTypes = objectAttrTypes("workspace")
	securityAttrTypes  = objectAttrTypes("security_context")
)

func objectAttrTypes(name string) map[string]attr.Type {
	return labAttributes[name].attrType().(types.ObjectType).AttrTypes
}

// attrType is the Terraform type of the attribute's value.
func (a labAttr) attrType() attr.Type {
	if a.attrs == nil {
		return a.typ
	}
	t := types.ObjectType{AttrTypes: make(map[string]attr.Type, len(a.attrs))}
	for name, x := range a.attrs {
		t.AttrTypes[name] = x.attrType()
	}
	return t
}

// labDataAttributes is a lab as the data sources read it: every attribute
// computed, described by its about.
func labDataAttributes() map[string]dschema.Attribute {
	return dataAttributes("", labAttributes)
}

func dataAttributes(prefix string, defs map[string]labAttr) map[string]dschema.Attribute {
	out := make(map[string]dschema.Attribute, len(defs))
	for name, a := range defs {
		desc, sens := a.about, a.sensitive
		switch t := a.typ.(type) {
		case nil:
			out[name] = dschema.SingleNestedAttribute{MarkdownDescription: desc, Computed: true, Sensitive: sens, Attributes: dataAttributes(prefix+name+".", a.attrs)}
		case basetypes.StringType:
			out[name] = dschema.StringAttribute{MarkdownDescription: desc, Computed: true, Sensitive: sens}
		case basetypes.Int64Type:
			out[name] = dschema.Int64Attribute{MarkdownDescription: desc, Computed: true, Sensitive: sens}
		case basetypes.BoolType:
			out[name] = dschema.BoolAttribute{MarkdownDescription: desc, Computed: true, Sensitive: sens}
		case basetypes.MapType:
			out[name] = dschema.MapAttribute{MarkdownDescription: desc, Computed: true, Sensitive: sens, ElementType: t.ElemType}
		case basetypes.ListType:
			out[name] = dschema.ListAttribute{MarkdownDescription: desc, Computed: true, Sensitive: sens, ElementType: t.ElemType}
		default:
			panic(fmt.Sprintf("lab attribute %s%s: no data source attribute for type %s", prefix, name, t))
		}
	}
	return out
}

// resourceTuning adds to one of the lab's attributes, built for the
// resource, what only the resource has. Make one with tune.
type resourceTuning func(rschema.Attribute) (rschema.Attribute, error)

// tune makes a resourceTuning of f, which changes one kind of attribute:
//
//	tune(func(a *schema.StringAttribute) { a.Validators = ... })
func tune[A rschema.Attribute](f func(*A)) resourceTuning {
	return func(a rschema.Attribute) (rschema.Attribute, error) {
		x, ok := a.(A)
		if !ok {
			return a, fmt.Errorf("it is a %T, the tuning is for a %T", a, x)
		}
		f(&x)
		return x, nil
	}
}

// labResourceAttributes is a lab as the resource manages it: arguments
// Required or Optional as labAttributes says, status Computed, each then
// changed by its tuning, found by path ("resource_limits.cpu"). It panics
// on a tuning of no attribute or of another kind of attribute: the schema
// is static, and TestSchemas builds it.
func labResourceAttributes(tuning map[string]resourceTuning) map[string]rschema.Attribute {
	used := map[string]bool{}
	out := resourceAttributes("", labAttributes, tuning, used)
	for p := range tuning {
		if !used[p] {
			panic(fmt.Sprintf("tuning of %q: the lab has no such attribute", p))
		}
	}
	return out
}

func resourceAttributes(prefix string, defs map[string]labAttr, tuning map[string]resourceTuning, used map[string]bool) map[string]rschema.Attribute {
	out := make(map[string]rschema.Attribute, len(defs))
	for name, a := range defs {
		desc, sens := a.about, a.sensitive
		req, opt, comp := a.role == roleRequired, a.role == roleOptional, a.role == roleStatus
		var x rschema.Attribute
		switch t := a.typ.(type) {
		case nil:
			x = rschema.SingleNestedAttribute{MarkdownDescription: desc, Required: req, Optional: opt, Computed: comp, Sensitive: sens,
				Attributes: resourceAttributes(prefix+name+".", a.attrs, tuning, used)}
		case basetypes.StringType:
			x = rschema.StringAttribute{MarkdownDescription: desc, Required: req, Optional: opt, Computed: comp, Sensitive: sens}
		case basetypes.Int64Type:
			x = rschema.Int64Attribute{MarkdownDescription: desc, Required: req, Optional: opt, Computed: comp, Sensitive: sens}
		case basetypes.BoolType:
			x = rschema.BoolAttribute{MarkdownDescription: desc, Required: req, Optional: opt, Computed: comp, Sensitive: sens}
		case basetypes.MapType:
			x = rschema.MapAttribute{MarkdownDescription: desc, Required: req, Optional: opt, Computed: comp, Sensitive: sens, ElementType: t.ElemType}
		case basetypes.ListType:
			x = rschema.ListAttribute{MarkdownDescription: desc, Required: req, Optional: opt, Computed: comp, Sensitive: sens, ElementType: t.ElemType}
		default:
			panic(fmt.Sprintf("lab attribute %s%s: no resource attribute for type %s", prefix, name, t))
		}
		if f, ok := tuning[prefix+name]; ok {
			var err error
			if x, err = f(x); err != nil {
				panic(fmt.Sprintf("tuning of %q: %v", prefix+name, err))
			}
			used[prefix+name] = true
		}
		out[name] = x
	}
	return out
}

// labValues is a lab as Terraform values, one field per labAttributes
// entry: the data sources' model, and the part of the resource's that labd
// holds.
type labValues struct {
	ID                 types.String `tfsdk:"id"`
	Name               types.String `tfsdk:"name"`
	Namespace          types.String `tfsdk:"namespace"`
	UID                types.String `tfsdk:"uid"`
	LabTemplate        types.String `tfsdk:"lab_template"`
	StudentEmail       types.String `tfsdk:"student_email"`
	DurationMinutes    types.Int64  `tfsdk:"duration_minutes"`
	ScheduledStartTime types.String `tfsdk:"scheduled_start_time"`
	Environment        types.Map    `tfsdk:"environment"`
	ResourceLimits     types.Object `tfsdk:"resource_limits"`
	Labels             types.Map    `tfsdk:"labels"`
	ResourceRequests   types.Object `tfsdk:"resource_requests"`
	Workspace          types.Object `tfsdk:"workspace"`
	Command            types.List   `tfsdk:"command"`
	Args               types.List   `tfsdk:"args"`
	Port               types.Int64  `tfsdk:"port"`
	ReadinessPath      types.String `tfsdk:"readiness_path"`
	IdleTimeoutMinutes types.Int64  `tfsdk:"idle_timeout_minutes"`
	SecurityContext    types.Object `tfsdk:"security_context"`

	Phase              types.String `tfsdk:"phase"`
	ContainerID        types.String `tfsdk:"container_id"`
	AccessURL          types.String `tfsdk:"access_url"`
	StartedAt          types.String `tfsdk:"started_at"`
	CompletedAt        types.String `tfsdk:"completed_at"`
	ErrorMessage       types.String `tfsdk:"error_message"`
	ResourceAllocation types.Map    `tfsdk:"resource_allocation"`
	ResourceVersion    types.Int64  `tfsdk:"resource_version"`
	Endpoint           types.String `tfsdk:"endpoint"`
	LastActivity       types.String `tfsdk:"last_activity"`
	// AccessToken is not part of the lab object (a secret, kept apart on
	// labd): withAccess reads it.
	AccessToken types.String `tfsdk:"access_token"`
}

func (v *labValues) key() api.Key {
	return api.Key{Namespace: v.Namespace.ValueString(), Name: v.Name.ValueString()}
}

// labData is a lab as the data sources show it, its access token being
// token (see readAccessToken). There is no prior form to keep: zero values
// are null, so an absent map reads as null.
func labData(l *api.LabInstanceRequest, token types.String) labValues {
	var v labValues
	v.fromAPI(l)
	v.AccessToken = token
	return v
}

// fromAPI records the server's object. v holds the prior values (plan or
// state): where the server's answer is equivalent to what the user wrote
// (an empty map for a null one, "500m" for "0.5"), the user's form is kept
// so that plans settle.
func (v *labValues) fromAPI(l *api.LabInstanceRequest) {
	v.ID = types.StringValue(l.Key().String())
	v.Name = types.StringValue(l.Metadata.Name)
	v.Namespace = types.StringValue(l.Metadata.Namespace)
	v.UID = types.StringValue(l.Metadata.UID)
	v.LabTemplate = types.StringValue(l.Spec.LabTemplate)
	v.StudentEmail = types.StringValue(l.Spec.StudentEmail)
	v.DurationMinutes = types.Int64Value(int64(l.Spec.DurationMinutes))
	v.ScheduledStartTime = startValue(l.Spec.ScheduledStartTime, v.ScheduledStartTime)
	v.Environment = mapValue(l.Spec.Environment, v.Environment)
	v.ResourceLimits = limitsValue(l.Spec.ResourceLimits, v.ResourceLimits)
	v.Labels = mapValue(l.Metadata.Labels, v.Labels)
	v.ResourceRequests = requestsValue(l.Spec.ResourceRequests, v.ResourceRequests)
	v.Workspace = workspaceValue(l.Spec.Workspace)
	v.Command = listValue(l.Spec.Command, v.Command)
	v.Args = listValue(l.Spec.Args, v.Args)
	v.Port = optInt(l.Spec.Port, v.Port)
	v.ReadinessPath = optStringAs(l.Spec.ReadinessPath, v.ReadinessPath)
	v.IdleTimeoutMinutes = optInt(l.Spec.IdleTimeoutMinutes, v.IdleTimeoutMinutes)
	v.SecurityContext = securityValue(l.Spec.SecurityContext, v.SecurityContext)

	v.Phase = types.StringValue(string(l.Status.Phase))
	v.ContainerID = optString(l.Status.ContainerID)
	v.AccessURL = optString(l.Status.AccessURL)
	v.StartedAt = timeString(l.Status.StartedAt)
	v.CompletedAt = timeString(l.Status.CompletedAt)
	v.ErrorMessage = optString(l.Status.ErrorMessage)
	v.ResourceAllocation = mapValue(l.Status.ResourceAllocation, types.MapNull(types.StringType))
	v.ResourceVersion = types.Int64Value(l.Metadata.ResourceVersion)
	v.Endpoint = optString(l.Status.Endpoint)
	v.LastActivity = timeString(l.Status.LastActivity)
}

// toAPI builds the manifest of the lab's arguments, as planned.
func (v *labValues) toAPI(ctx context.Context) (*api.LabInstanceRequest, diag.Diagnostics) {
	var diags diag.Diagnostics
	env, d := apiMap(ctx, v.Environment)
	diags.Append(d...)
	labels, d := apiMap(ctx, v.Labels)
	diags.Append(d...)
	command, d := apiList(ctx, v.Command)
	diags.Append(d...)
	args, d := apiList(ctx, v.Args)
	diags.Append(d...)
	l := &api.LabInstanceRequest{
		APIVersion: api.APIVersion, Kind: api.Kind,
		Metadata: api.ObjectMeta{Name: v.Name.ValueString(), Namespace: v.Namespace.ValueString(), Labels: labels},
		Spec: api.Spec{
			LabTemplate:        v.LabTemplate.ValueString(),
			StudentEmail:       v.StudentEmail.ValueString(),
			DurationMinutes:    int(v.DurationMinutes.ValueInt64()),
			ScheduledStartTime: v.ScheduledStartTime.ValueString(),
			Environment:        env,
			ResourceLimits:     apiResources(v.ResourceLimits),
			ResourceRequests:   apiResources(v.ResourceRequests),
			Workspace:          apiWorkspace(v.Workspace),
			Command:            command,
			Args:               args,
			Port:               int(v.Port.ValueInt64()),
			ReadinessPath:      v.ReadinessPath.ValueString(),
			IdleTimeoutMinutes: int(v.IdleTimeoutMinutes.ValueInt64()),
			SecurityContext:    apiSecurity(v.SecurityContext),
		},
	}
	return l, diags
}
