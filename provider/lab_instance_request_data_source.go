package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

var (
	_ datasource.DataSource              = (*labInstanceRequestDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*labInstanceRequestDataSource)(nil)
)

// labInstanceRequestDataSource reads one lab by namespace and name.
type labInstanceRequestDataSource struct{ data *providerData }

func newLabInstanceRequestDataSource() datasource.DataSource { return &labInstanceRequestDataSource{} }

// labDataModel is a lab as the data sources show it: everything is read.
type labDataModel struct {
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
	Phase              types.String `tfsdk:"phase"`
	ContainerID        types.String `tfsdk:"container_id"`
	AccessURL          types.String `tfsdk:"access_url"`
	StartedAt          types.String `tfsdk:"started_at"`
	CompletedAt        types.String `tfsdk:"completed_at"`
	ErrorMessage       types.String `tfsdk:"error_message"`
	ResourceAllocation types.Map    `tfsdk:"resource_allocation"`
	ResourceVersion    types.Int64  `tfsdk:"resource_version"`
}

func labData(l *api.LabInstanceRequest) labDataModel {
	none := types.MapNull(types.StringType)
	return labDataModel{
		ID:                 types.StringValue(l.Key().String()),
		Name:               types.StringValue(l.Metadata.Name),
		Namespace:          types.StringValue(l.Metadata.Namespace),
		UID:                types.StringValue(l.Metadata.UID),
		LabTemplate:        types.StringValue(l.Spec.LabTemplate),
		StudentEmail:       types.StringValue(l.Spec.StudentEmail),
		DurationMinutes:    types.Int64Value(int64(l.Spec.DurationMinutes)),
		ScheduledStartTime: optString(l.Spec.ScheduledStartTime),
		Environment:        mapValue(l.Spec.Environment, none),
		ResourceLimits:     limitsValue(l.Spec.ResourceLimits, types.ObjectNull(limitsAttrTypes)),
		Labels:             mapValue(l.Metadata.Labels, none),
		Phase:              types.StringValue(string(l.Status.Phase)),
		ContainerID:        optString(l.Status.ContainerID),
		AccessURL:          optString(l.Status.AccessURL),
		StartedAt:          timeString(l.Status.StartedAt),
		CompletedAt:        timeString(l.Status.CompletedAt),
		ErrorMessage:       optString(l.Status.ErrorMessage),
		ResourceAllocation: mapValue(l.Status.ResourceAllocation, none),
		ResourceVersion:    types.Int64Value(l.Metadata.ResourceVersion),
	}
}

// labDataAttributes describes a lab read by a data source, all computed.
func labDataAttributes() map[string]schema.Attribute {
	str := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{MarkdownDescription: desc, Computed: true}
	}
	strMap := func(desc string) schema.MapAttribute {
		return schema.MapAttribute{MarkdownDescription: desc, ElementType: types.StringType, Computed: true}
	}
	return map[string]schema.Attribute{
		"id":                   str("`namespace/name` of the lab."),
		"name":                 str("Name of the lab."),
		"namespace":            str("Namespace of the lab."),
		"uid":                  str("Unique id labd gave the lab."),
		"lab_template":         str("Container image the lab runs."),
		"student_email":        str("E-mail address of the student the lab is for."),
		"duration_minutes":     schema.Int64Attribute{MarkdownDescription: "How long the lab runs once started, in minutes.", Computed: true},
		"scheduled_start_time": str("RFC 3339 time before which the lab stays PENDING, if any."),
		"environment":          strMap("Environment variables of the lab container."),
		"resource_limits": schema.SingleNestedAttribute{
			MarkdownDescription: "CPU and memory limits of the lab container.",
			Computed:            true,
			Attributes: map[string]schema.Attribute{
				"cpu":    str("CPU cores."),
				"memory": str("Memory."),
			},
		},
		"labels":              strMap("Labels of the lab."),
		"phase":               str("Phase of the lab: `PENDING`, `PROVISIONING`, `RUNNING`, `COMPLETED`, `FAILED` or `TIMEOUT`."),
		"container_id":        str("Id of the lab's Docker container, once it has one."),
		"access_url":          str("Where the student reaches the lab, once it runs."),
		"started_at":          str("When the lab started running (RFC 3339)."),
		"completed_at":        str("When the lab ended (RFC 3339)."),
		"error_message":       str("Why the lab failed, if it did."),
		"resource_allocation": strMap("Resources labd reserved for the lab."),
		"resource_version":    schema.Int64Attribute{MarkdownDescription: "Version of the lab object on labd.", Computed: true},
	}
}

func (d *labInstanceRequestDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_instance_request"
}

func (d *labInstanceRequestDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	attrs := labDataAttributes()
	attrs["name"] = schema.StringAttribute{
		MarkdownDescription: "Name of the lab.",
		Required:            true,
		Validators:          []validator.String{validName},
	}
	attrs["namespace"] = schema.StringAttribute{
		MarkdownDescription: "Namespace of the lab; `default` when unset.",
		Optional:            true,
		Computed:            true,
		Validators:          []validator.String{validName},
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Reads one lab instance (`LabInstanceRequest`) from labd, whoever created it.",
		Attributes:          attrs,
	}
}

func (d *labInstanceRequestDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = configureData(req.ProviderData, resp.Diagnostics.AddError)
}

func (d *labInstanceRequestDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var cfg labDataModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	key := api.Key{Namespace: cfg.Namespace.ValueString(), Name: cfg.Name.ValueString()}
	if key.Namespace == "" {
		key.Namespace = api.DefaultNamespace
	}
	l, err := d.data.client.Get(ctx, key)
	if err != nil {
		detail := err.Error()
		if api.IsNotFound(err) {
			detail = fmt.Sprintf("No lab %s on labd.", key)
		}
		resp.Diagnostics.AddError("Error reading lab "+key.String(), detail)
		return
	}
	m := labData(l)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
