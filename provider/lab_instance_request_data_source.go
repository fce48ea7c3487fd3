package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

var (
	_ datasource.DataSource              = (*labInstanceRequestDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*labInstanceRequestDataSource)(nil)
)

// labInstanceRequestDataSource reads one lab by namespace and name.
type labInstanceRequestDataSource struct{ data *providerData }

func newLabInstanceRequestDataSource() datasource.DataSource { return &labInstanceRequestDataSource{} }

func (d *labInstanceRequestDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_instance_request"
}

func (d *labInstanceRequestDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	// The lab's attributes, computed, but for the two that say which lab.
	attrs := labDataAttributes()
	attrs["name"] = schema.StringAttribute{
		MarkdownDescription: labAttributes["name"].about,
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
	var cfg labValues
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	key := cfg.key()
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
	token, err := readAccessToken(ctx, d.data.client, key)
	if err != nil {
		resp.Diagnostics.AddError("Error reading lab "+key.String(), err.Error())
		return
	}
	m := labData(l, token)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
