// Package provider is the Terraform provider "lab" (registry.terraform.io/labrm/lab):
// it manages labd's LabInstanceRequest resources as lab_instance_request
// and reads them through two data sources.
//
// The provider talks to labd only through internal/client and validates
// with internal/api, the code the server validates with, so a plan that
// passes is not rejected by the server for a reason the plan could have
// known.
//
// The lab's attributes are defined once, in lab_instance_request_attributes.go,
// with the one model and converter the resource and both data sources
// share; each of those files adds only what is its own (the resource's
// validators, defaults, plan modifiers, wait_for and timeouts; the data
// sources' lookup arguments).
package provider

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/labrm/terraform-provider-lab/internal/client"
)

// Environment variables read when the provider block leaves a setting out.
const (
	EnvEndpoint   = "LAB_ENDPOINT"
	EnvToken      = "LAB_TOKEN"
	EnvInsecure   = "LAB_INSECURE"
	EnvCACertFile = "LAB_CA_CERT_FILE"
)

// labProvider is the provider; version is stamped at build time.
type labProvider struct {
	version string
}

var _ provider.Provider = (*labProvider)(nil)

// New returns a constructor of the provider, as providerserver wants it.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &labProvider{version: version} }
}

type providerModel struct {
	Endpoint   types.String `tfsdk:"endpoint"`
	Token      types.String `tfsdk:"token"`
	Insecure   types.Bool   `tfsdk:"insecure"`
	CACertPEM  types.String `tfsdk:"ca_cert_pem"`
	CACertFile types.String `tfsdk:"ca_cert_file"`
}

// providerData is handed to every resource and data source.
type providerData struct {
	client   *client.Client
	wait     waitConfig
	capacity capacityCache // labd's total, read once for the plan-time check
}

func (p *labProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "lab"
	resp.Version = p.version
}

func (p *labProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The `lab` provider manages lab instances on a [labd](https://github.com/labrm/terraform-provider-lab) " +
			"backend: each `lab_instance_request` becomes a Docker container for one student, started, timed and cleaned up by labd.",
		Attributes: map[string]schema.Attribute{
			"endpoint": schema.StringAttribute{
				MarkdownDescription: "Base URL of the labd API, e.g. `https://labs.example.edu`. Defaults to the `" + EnvEndpoint +
					"` environment variable, else `" + client.DefaultEndpoint + "`.",
				Optional: true,
			},
			"token": schema.StringAttribute{
				MarkdownDescription: "Bearer token for the labd API. Defaults to the `" + EnvToken + "` environment variable. " +
					"Leave unset for a labd without API tokens.",
				Optional:  true,
				Sensitive: true,
			},
			"insecure": schema.BoolAttribute{
				MarkdownDescription: "Skip TLS certificate verification of an `https` endpoint (tests only: the token can then be read by anyone on the path). " +
					"Defaults to the `" + EnvInsecure + "` environment variable, else `false`.",
				Optional: true,
			},
			"ca_cert_pem": schema.StringAttribute{
				MarkdownDescription: "PEM-encoded CA certificate(s) to trust, besides the system's, for an `https` endpoint with a private CA.",
				Optional:            true,
			},
			"ca_cert_file": schema.StringAttribute{
				MarkdownDescription: "Path of a PEM file of CA certificate(s) to trust, besides the system's. Defaults to the `" + EnvCACertFile + "` environment variable.",
				Optional:            true,
			},
		},
	}
}

func (p *labProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var cfg providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	for name, v := range map[string]interface{ IsUnknown() bool }{
		"endpoint": cfg.Endpoint, "token": cfg.Token, "insecure": cfg.Insecure, "ca_cert_pem": cfg.CACertPEM, "ca_cert_file": cfg.CACertFile,
	} {
		if v.IsUnknown() {
			resp.Diagnostics.AddAttributeError(path.Root(name), "Unknown provider setting",
				fmt.Sprintf("The provider's %s depends on a value known only after apply. Set it from a variable or a value known at plan time, or apply the resources it depends on first (-target).", name))
		}
	}
	if resp.Diagnostics.HasError() {
		return
	}

	endpoint := cmp.Or(cfg.Endpoint.ValueString(), os.Getenv(EnvEndpoint), client.DefaultEndpoint)
	token := cmp.Or(cfg.Token.ValueString(), os.Getenv(EnvToken))
	insecure := cfg.Insecure.ValueBool()
	if cfg.Insecure.IsNull() {
		if v := os.Getenv(EnvInsecure); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				resp.Diagnostics.AddError("Invalid "+EnvInsecure, fmt.Sprintf("%s=%q is not a boolean (true or false).", EnvInsecure, v))
				return
			}
			insecure = b
		}
	}
	opts := []client.Option{
		client.WithToken(token),
		client.WithUserAgent(fmt.Sprintf("terraform-provider-lab/%s (+https://registry.terraform.io/providers/labrm/lab) terraform/%s", p.version, req.TerraformVersion)),
		client.WithLogger(slog.New(tflogHandler{})),
	}
	if insecure {
		opts = append(opts, client.WithInsecureSkipVerify(true))
	}
	if pem := strings.TrimSpace(cfg.CACertPEM.ValueString()); pem != "" {
		opts = append(opts, client.WithCAPEM([]byte(pem)))
	}
	if f := cmp.Or(cfg.CACertFile.ValueString(), os.Getenv(EnvCACertFile)); f != "" {
		opts = append(opts, client.WithCAFile(f))
	}
	c, err := client.New(endpoint, opts...)
	if err != nil {
		attr := path.Root("endpoint")
		if !strings.Contains(err.Error(), "endpoint") {
			attr = path.Root("ca_cert_pem")
			if strings.Contains(err.Error(), "file") {
				attr = path.Root("ca_cert_file")
			}
		}
		resp.Diagnostics.AddAttributeError(attr, "Cannot configure the lab API client", err.Error())
		return
	}
	tflog.Debug(ctx, "configured lab provider", map[string]any{"endpoint": c.Endpoint(), "token_set": token != ""})
	data := &providerData{client: c}
	resp.ResourceData = data
	resp.DataSourceData = data
}

func (p *labProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{newLabInstanceRequestResource}
}

func (p *labProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{newLabInstanceRequestDataSource, newLabInstanceRequestsDataSource, newLabWorkspacesDataSource}
}

// tflogHandler sends the client's slog records (retries) to Terraform's
// log, where TF_LOG=DEBUG shows them with the request's context.
type tflogHandler struct{ attrs []slog.Attr }

func (h tflogHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h tflogHandler) Handle(ctx context.Context, r slog.Record) error {
	fields := make(map[string]any, r.NumAttrs()+len(h.attrs))
	for _, a := range h.attrs {
		fields[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		fields[a.Key] = a.Value.String()
		return true
	})
	switch {
	case r.Level >= slog.LevelError:
		tflog.Error(ctx, r.Message, fields)
	case r.Level >= slog.LevelWarn:
		tflog.Warn(ctx, r.Message, fields)
	case r.Level >= slog.LevelInfo:
		tflog.Info(ctx, r.Message, fields)
	default:
		tflog.Debug(ctx, r.Message, fields)
	}
	return nil
}

func (h tflogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return tflogHandler{attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h tflogHandler) WithGroup(string) slog.Handler { return h }

// configureData extracts the provider's data in a resource's or data
// source's Configure; nil while the provider is not configured yet.
func configureData(pd any, add func(summary, detail string)) *providerData {
	if pd == nil {
		return nil
	}
	d, ok := pd.(*providerData)
	if !ok {
		add("Unexpected provider data", fmt.Sprintf("Expected *providerData, got %T. This is a bug in the provider.", pd))
		return nil
	}
	return d
}
