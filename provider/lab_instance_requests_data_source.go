package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/internal/client"
)

var (
	_ datasource.DataSource              = (*labInstanceRequestsDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*labInstanceRequestsDataSource)(nil)
)

// labInstanceRequestsDataSource lists labs matching filters, following
// the server's pages.
type labInstanceRequestsDataSource struct{ data *providerData }

func newLabInstanceRequestsDataSource() datasource.DataSource {
	return &labInstanceRequestsDataSource{}
}

type labListModel struct {
	ID           types.String `tfsdk:"id"`
	Namespace    types.String `tfsdk:"namespace"`
	Phase        types.String `tfsdk:"phase"`
	StudentEmail types.String `tfsdk:"student_email"`
	Labels       types.Map    `tfsdk:"labels"`
	Items        []labValues  `tfsdk:"items"`
}

func (d *labInstanceRequestsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_instance_requests"
}

func (d *labInstanceRequestsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Lists the lab instances on labd that match every filter given, sorted as labd lists them.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "The filters, as a query string (`all` without filters).",
				Computed:            true,
			},
			"namespace": schema.StringAttribute{
				MarkdownDescription: "Only labs in this namespace; every namespace when unset.",
				Optional:            true,
				Validators:          []validator.String{validName},
			},
			"phase": schema.StringAttribute{
				MarkdownDescription: "Only labs in this phase (`PENDING`, `PROVISIONING`, `RUNNING`, `COMPLETED`, `FAILED`, `TIMEOUT`).",
				Optional:            true,
				Validators:          []validator.String{validPhase},
			},
			"student_email": schema.StringAttribute{
				MarkdownDescription: "Only labs of this student.",
				Optional:            true,
				Validators:          []validator.String{validEmail},
			},
			"labels": schema.MapAttribute{
				MarkdownDescription: "Only labs carrying all of these labels.",
				ElementType:         types.StringType,
				Optional:            true,
				Validators:          []validator.Map{validSelector},
			},
			"items": schema.ListNestedAttribute{
				MarkdownDescription: "The matching labs.",
				Computed:            true,
				NestedObject:        schema.NestedAttributeObject{Attributes: labDataAttributes()},
			},
		},
	}
}

func (d *labInstanceRequestsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = configureData(req.ProviderData, resp.Diagnostics.AddError)
}

func (d *labInstanceRequestsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var cfg labListModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	sel, diags := apiMap(ctx, cfg.Labels)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	opts := client.ListOptions{
		Namespace:     cfg.Namespace.ValueString(),
		Phase:         api.Phase(cfg.Phase.ValueString()),
		StudentEmail:  cfg.StudentEmail.ValueString(),
		LabelSelector: sel,
	}
	list, err := d.data.client.ListAll(ctx, opts)
	if err != nil {
		resp.Diagnostics.AddError("Error listing labs", err.Error())
		return
	}
	q := opts.Query().Encode()
	if q == "" {
		q = "all"
	}
	cfg.ID = types.StringValue(q)
	cfg.Items = make([]labValues, 0, len(list.Items))
	readTokens := true // until labd says the API token may not
	for i := range list.Items {
		token := types.StringNull()
		if readTokens {
			if token, err = readAccessToken(ctx, d.data.client, list.Items[i].Key()); err != nil {
				resp.Diagnostics.AddError("Error listing labs", err.Error())
				return
			}
			// A null token of a lab just listed: a read-only API token.
			readTokens = !token.IsNull()
		}
		cfg.Items = append(cfg.Items, labData(&list.Items[i], token))
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &cfg)...)
}
