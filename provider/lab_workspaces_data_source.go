package provider

import (
	"context"
	"net/url"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

var (
	_ datasource.DataSource              = (*labWorkspacesDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*labWorkspacesDataSource)(nil)
)

// labWorkspacesDataSource lists the students' workspaces labd keeps.
type labWorkspacesDataSource struct{ data *providerData }

func newLabWorkspacesDataSource() datasource.DataSource { return &labWorkspacesDataSource{} }

type workspaceListModel struct {
	ID           types.String     `tfsdk:"id"`
	Namespace    types.String     `tfsdk:"namespace"`
	StudentEmail types.String     `tfsdk:"student_email"`
	Items        []workspaceModel `tfsdk:"items"`
}

type workspaceModel struct {
	Namespace    types.String `tfsdk:"namespace"`
	StudentEmail types.String `tfsdk:"student_email"`
	Name         types.String `tfsdk:"name"`
	CreatedAt    types.String `tfsdk:"created_at"`
	Labs         types.List   `tfsdk:"labs"`
}

func (d *labWorkspacesDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_workspaces"
}

func (d *labWorkspacesDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Lists the students' persistent workspaces on labd: one per namespace and student whose lab set " +
			"`workspace`, created by the first such lab, mounted by every later one of the student in the namespace, and kept " +
			"when labs end or are destroyed (labd removes one only on `DELETE /api/workspaces/{namespace}/{student}`).",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "The filters, as a query string (`all` without filters).",
				Computed:            true,
			},
			"namespace": schema.StringAttribute{
				MarkdownDescription: "Only workspaces in this namespace; every namespace when unset.",
				Optional:            true,
				Validators:          []validator.String{validName},
			},
			"student_email": schema.StringAttribute{
				MarkdownDescription: "Only the workspaces of this student (case-insensitive).",
				Optional:            true,
				Validators:          []validator.String{validEmail},
			},
			"items": schema.ListNestedAttribute{
				MarkdownDescription: "The workspaces, by namespace and student.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"namespace":     schema.StringAttribute{MarkdownDescription: "Namespace of the workspace.", Computed: true},
					"student_email": schema.StringAttribute{MarkdownDescription: "The student, lower-cased.", Computed: true},
					"name": schema.StringAttribute{MarkdownDescription: "The engine's name for it (a Docker volume): `ws-` and a hash, " +
						"since an e-mail address is not a valid volume name.", Computed: true},
					"created_at": schema.StringAttribute{MarkdownDescription: "When it was created (RFC 3339).", Computed: true},
					"labs": schema.ListAttribute{MarkdownDescription: "Labs that hold it (not ended); while any does, labd refuses to delete it.",
						ElementType: types.StringType, Computed: true},
				}},
			},
		},
	}
}

func (d *labWorkspacesDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = configureData(req.ProviderData, resp.Diagnostics.AddError)
}

func (d *labWorkspacesDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var cfg workspaceListModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	items, err := d.data.client.Workspaces(ctx, cfg.Namespace.ValueString(), cfg.StudentEmail.ValueString())
	if err != nil {
		resp.Diagnostics.AddError("Error listing workspaces", err.Error())
		return
	}
	q := url.Values{}
	if v := cfg.Namespace.ValueString(); v != "" {
		q.Set("namespace", v)
	}
	if v := cfg.StudentEmail.ValueString(); v != "" {
		q.Set("student_email", v)
	}
	cfg.ID = types.StringValue(q.Encode())
	if len(q) == 0 {
		cfg.ID = types.StringValue("all")
	}
	cfg.Items = make([]workspaceModel, 0, len(items))
	for _, w := range items {
		m := workspaceModel{Namespace: types.StringValue(w.Namespace), StudentEmail: types.StringValue(w.StudentEmail),
			Name: types.StringValue(w.Name), CreatedAt: types.StringNull()}
		if w.CreatedAt != nil {
			m.CreatedAt = types.StringValue(w.CreatedAt.UTC().Format(time.RFC3339))
		}
		labs, diags := types.ListValueFrom(ctx, types.StringType, w.Labs)
		resp.Diagnostics.Append(diags...)
		m.Labs = labs
		cfg.Items = append(cfg.Items, m)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &cfg)...)
}
