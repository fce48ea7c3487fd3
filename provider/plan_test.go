package provider

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/path"
	fwresource "github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// Plan-time behaviour through the real terraform CLI. Planning a create
// never calls labd, so these need no server: the provider points at a port
// where nothing listens.

const noServer = `provider "lab" {
  endpoint = "http://127.0.0.1:1"
}
`

func planLab(args string) string { return planLabNamed("plan-test", "labrm/busybox:test", args) }

func planLabNamed(name, image, args string) string {
	return noServer + fmt.Sprintf(`
resource "lab_instance_request" "test" {
  name             = %q
  lab_template     = %q
  student_email    = "student@university.edu"
`, name, image) + args + "\n}\n"
}

func planOnly(config string, expectErr *regexp.Regexp, checks ...plancheck.PlanCheck) resource.TestStep {
	return resource.TestStep{
		Config:             config,
		PlanOnly:           true,
		ExpectNonEmptyPlan: expectErr == nil,
		ExpectError:        expectErr,
		ConfigPlanChecks:   resource.ConfigPlanChecks{PostApplyPreRefresh: checks},
	}
}

func TestPlanValidation(t *testing.T) {
	requireTerraform(t)
	t.Parallel()
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			planOnly(planLab(`duration_minutes = 0`), words("duration_minutes", "must", "be", "between", "1", "and", "480")),
			planOnly(planLab(`duration_minutes = 481`), words("between", "1", "and", "480")),
			planOnly(planLab("duration_minutes = 60\n student_email = \"not-an-address\""), regexp.MustCompile(`student_email`)),
			planOnly(planLabNamed("Not_A_DNS_Label", "labrm/busybox:test", "duration_minutes = 60"), words("DNS-1123", "label")),
			planOnly(planLabNamed("plan-test", "Bad Image", "duration_minutes = 60"), words("container", "image", "reference")),
			planOnly(planLab("duration_minutes = 60\n scheduled_start_time = \"tomorrow\""), words("RFC", "3339")),
			planOnly(planLab("duration_minutes = 60\n environment = { \"1BAD\" = \"x\" }"), regexp.MustCompile(`\[A-Za-z_\]`)),
			planOnly(planLab("duration_minutes = 60\n labels = { \"bad key!\" = \"x\" }"), regexp.MustCompile(`Invalid labels`)),
			planOnly(planLab("duration_minutes = 60\n resource_limits = { cpu = \"9\", memory = \"32Mi\" }"), words("at", "most", "8", "cores")),
			planOnly(planLab("duration_minutes = 60\n resource_limits = { cpu = \"0.1\", memory = \"1Mi\" }"), words("between", "6Mi", "and", "64Gi")),
			planOnly(planLab("duration_minutes = 60\n wait_for = \"COMPLETED\""), regexp.MustCompile(`wait_for`)),
			// The workload arguments, by internal/api's rules.
			planOnly(planLab("duration_minutes = 60\n resource_requests = { cpu = \"2\", memory = \"1Gi\" }"),
				words("resource_requests.cpu", "must", "be", "at", "most", "the", "CPU", "limit")),
			planOnly(planLab("duration_minutes = 60\n resource_limits = { cpu = \"0.1\", memory = \"32Mi\" }\n resource_requests = { cpu = \"0.1\", memory = \"64Mi\" }"),
				words("resource_requests.memory", "must", "be", "at", "most", "the", "memory", "limit")),
			planOnly(planLab("duration_minutes = 60\n resource_requests = { cpu = \"many\", memory = \"1Gi\" }"), words("number", "of", "cores")),
			planOnly(planLab("duration_minutes = 60\n workspace = { mount_path = \"/proc/x\" }"), words("must", "not", "be", "/proc")),
			planOnly(planLab("duration_minutes = 60\n workspace = { mount_path = \"home\" }"), words("absolute", "path")),
			planOnly(planLab("duration_minutes = 60\n command = [\"sh\", \"\"]"), words("must", "not", "be", "empty")),
			planOnly(planLab("duration_minutes = 60\n port = 70000"), words("between", "1", "and", "65535")),
			planOnly(planLab("duration_minutes = 60\n readiness_path = \"healthz\""), words("starting", "with", "a", "single")),
			planOnly(planLab("duration_minutes = 60\n idle_timeout_minutes = 481"), words("between", "0", "(never)", "and", "480")),
			planOnly(planLab("duration_minutes = 60\n security_context = { run_as_user = -1 }"), words("between", "0", "and", "2147483647")),
		},
	})
}

// TestPlanCreate: a valid lab plans with its defaults known and its status
// unknown; a far-future start refuses wait_for = RUNNING unless the create
// timeout covers it.
func TestPlanCreate(t *testing.T) {
	requireTerraform(t)
	t.Parallel()
	in3h := time.Now().Add(3 * time.Hour).UTC().Format(time.RFC3339)
	in5m := time.Now().Add(5 * time.Minute).UTC().Format(time.RFC3339)
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			planOnly(planLab("duration_minutes = 60"), nil,
				plancheck.ExpectResourceAction(addr, plancheck.ResourceActionCreate),
				plancheck.ExpectKnownValue(addr, tfjsonpath.New("namespace"), knownvalue.StringExact("default")),
				plancheck.ExpectKnownValue(addr, tfjsonpath.New("wait_for"), knownvalue.StringExact("RUNNING")),
				plancheck.ExpectKnownValue(addr, tfjsonpath.New("resource_limits"), knownvalue.ObjectExact(map[string]knownvalue.Check{
					"cpu": knownvalue.StringExact("1"), "memory": knownvalue.StringExact("2Gi"),
				})),
				plancheck.ExpectKnownValue(addr, tfjsonpath.New("labels"), knownvalue.Null()),
				// Requests are known at plan time, defaulted as labd will.
				plancheck.ExpectKnownValue(addr, tfjsonpath.New("resource_requests"), knownvalue.ObjectExact(map[string]knownvalue.Check{
					"cpu": knownvalue.StringExact("50m"), "memory": knownvalue.StringExact("256Mi"),
				})),
				plancheck.ExpectKnownValue(addr, tfjsonpath.New("command"), knownvalue.Null()),
				plancheck.ExpectKnownValue(addr, tfjsonpath.New("port"), knownvalue.Null()),
				plancheck.ExpectKnownValue(addr, tfjsonpath.New("security_context"), knownvalue.Null()),
				plancheck.ExpectUnknownValue(addr, tfjsonpath.New("endpoint")),
				plancheck.ExpectUnknownValue(addr, tfjsonpath.New("last_activity")),
				plancheck.ExpectUnknownValue(addr, tfjsonpath.New("id")),
				plancheck.ExpectUnknownValue(addr, tfjsonpath.New("uid")),
				plancheck.ExpectUnknownValue(addr, tfjsonpath.New("phase")),
				plancheck.ExpectUnknownValue(addr, tfjsonpath.New("container_id")),
				plancheck.ExpectUnknownValue(addr, tfjsonpath.New("access_url")),
			),
			// Default requests are clamped to smaller limits; given ones and
			// the other workload arguments are planned as written.
			planOnly(planLab("duration_minutes = 60\n resource_limits = { cpu = \"0.02\", memory = \"32Mi\" }"), nil,
				plancheck.ExpectKnownValue(addr, tfjsonpath.New("resource_requests"), knownvalue.ObjectExact(map[string]knownvalue.Check{
					"cpu": knownvalue.StringExact("0.02"), "memory": knownvalue.StringExact("32Mi"),
				}))),
			planOnly(planLab(`duration_minutes = 60
  resource_requests    = { cpu = "0.25", memory = "512Mi" }
  command              = ["httpd", "-f"]
  args                 = []
  port                 = 8080
  idle_timeout_minutes = 0
  security_context     = { read_only_root_filesystem = false }`), nil,
				plancheck.ExpectKnownValue(addr, tfjsonpath.New("resource_requests").AtMapKey("cpu"), knownvalue.StringExact("0.25")),
				plancheck.ExpectKnownValue(addr, tfjsonpath.New("command"), knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("httpd"), knownvalue.StringExact("-f")})),
				plancheck.ExpectKnownValue(addr, tfjsonpath.New("args"), knownvalue.ListSizeExact(0)),
				plancheck.ExpectKnownValue(addr, tfjsonpath.New("port"), knownvalue.Int64Exact(8080)),
				plancheck.ExpectKnownValue(addr, tfjsonpath.New("idle_timeout_minutes"), knownvalue.Int64Exact(0)),
				plancheck.ExpectKnownValue(addr, tfjsonpath.New("security_context").AtMapKey("read_only_root_filesystem"), knownvalue.Bool(false)),
			),
			planOnly(planLab(fmt.Sprintf("duration_minutes = 60\n scheduled_start_time = %q", in3h)),
				words("Waiting", "for", "RUNNING", "would", "time", "out")),
			planOnly(planLab(fmt.Sprintf("duration_minutes = 60\n scheduled_start_time = %q\n wait_for = \"PENDING\"", in3h)), nil),
			planOnly(planLab(fmt.Sprintf("duration_minutes = 60\n scheduled_start_time = %q\n timeouts { create = \"4h\" }", in3h)), nil),
			planOnly(planLab(fmt.Sprintf("duration_minutes = 60\n scheduled_start_time = %q", in5m)), nil),
		},
	})
}

// TestRequestsDefault: resource_requests left out of the configuration are
// planned as labd will default them, under the planned limits; a lab in the
// state keeps what it has when that means the same, so that plans settle,
// and one created before requests existed (none in the state) is not
// replaced for it; requests removed from the configuration go back to the
// defaults, which replaces the lab, as with resource_limits.
func TestRequestsDefault(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var sresp fwresource.SchemaResponse
	newLabInstanceRequestResource().Schema(ctx, fwresource.SchemaRequest{}, &sresp)
	sch := sresp.Schema
	req := func(cpu, mem string) types.Object {
		return types.ObjectValueMust(requestsAttrTypes, map[string]attr.Value{"cpu": types.StringValue(cpu), "memory": types.StringValue(mem)})
	}
	reqPart := func(cpu, mem string) types.Object { // "" for an amount left out
		v := func(s string) types.String {
			if s == "" {
				return types.StringNull()
			}
			return types.StringValue(s)
		}
		return types.ObjectValueMust(requestsAttrTypes, map[string]attr.Value{"cpu": v(cpu), "memory": v(mem)})
	}
	lim := func(cpu, mem string) types.Object {
		return types.ObjectValueMust(limitsAttrTypes, map[string]attr.Value{"cpu": types.StringValue(cpu), "memory": types.StringValue(mem)})
	}
	model := func(limits, requests types.Object) labModel {
		v := labData(fullLab(), types.StringNull())
		v.ResourceLimits, v.ResourceRequests = limits, requests
		return labModel{labValues: v, WaitFor: types.StringValue("RUNNING"), Timeouts: timeouts.Value{Object: types.ObjectNull(
			map[string]attr.Type{"create": types.StringType, "update": types.StringType, "delete": types.StringType})}}
	}
	null := types.ObjectNull(requestsAttrTypes)
	for _, tc := range []struct {
		name        string
		config      types.Object  // resource_requests as configured
		limits      types.Object  // resource_limits as planned
		state       *types.Object // resource_requests in the state; nil: a create
		want        types.Object
		wantUnknown bool
		wantReplace bool
	}{
		{name: "create with default limits", config: null, limits: lim("1", "2Gi"), want: req("50m", "256Mi")},
		{name: "create with small limits", config: null, limits: lim("0.1", "32Mi"), want: req("50m", "32Mi")},
		{name: "create with tiny limits", config: null, limits: lim("10m", "2Gi"), want: req("10m", "256Mi")},
		{name: "create with unknown limits", config: null, limits: types.ObjectUnknown(limitsAttrTypes), wantUnknown: true},
		{name: "given requests", config: req("0.5", "1Gi"), limits: lim("1", "2Gi"), want: req("0.5", "1Gi")},
		{name: "unchanged", config: null, limits: lim("1", "2Gi"), state: ptr(req("50m", "256Mi")), want: req("50m", "256Mi")},
		{name: "same amounts spelled otherwise", config: null, limits: lim("1", "2Gi"), state: ptr(req("0.05", "262144Ki")), want: req("0.05", "262144Ki")},
		{name: "removed from the configuration", config: null, limits: lim("1", "2Gi"), state: ptr(req("1", "1Gi")), want: req("50m", "256Mi"), wantReplace: true},
		{name: "lab from before requests", config: null, limits: lim("1", "2Gi"), state: &null, want: null},
		{name: "given where there were none", config: req("50m", "256Mi"), limits: lim("1", "2Gi"), state: &null, want: req("50m", "256Mi"), wantReplace: true},
		{name: "given in another spelling", config: req("0.05", "256Mi"), limits: lim("1", "2Gi"), state: ptr(req("50m", "256Mi")), want: req("0.05", "256Mi")},
		{name: "given other amounts", config: req("0.1", "256Mi"), limits: lim("1", "2Gi"), state: ptr(req("50m", "256Mi")), want: req("0.1", "256Mi"), wantReplace: true},
		{name: "create with the cpu left out", config: reqPart("", "1Gi"), limits: lim("0.02", "2Gi"), want: req("0.02", "1Gi")},
		{name: "create with the memory left out", config: reqPart("0.5", ""), limits: lim("1", "128Mi"), want: req("0.5", "128Mi")},
		{name: "memory left out, unchanged", config: reqPart("0.5", ""), limits: lim("1", "2Gi"), state: ptr(req("0.5", "262144Ki")), want: req("0.5", "262144Ki")},
		{name: "memory left out, was other", config: reqPart("0.5", ""), limits: lim("1", "2Gi"), state: ptr(req("0.5", "1Gi")), want: req("0.5", "256Mi"), wantReplace: true},
		{name: "memory left out of a lab from before requests", config: reqPart("50m", ""), limits: lim("1", "2Gi"), state: &null, want: req("50m", "256Mi"), wantReplace: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := tfsdk.Plan{Schema: sch}
			pm := model(tc.limits, tc.config)
			if d := plan.Set(ctx, &pm); d.HasError() {
				t.Fatal(d)
			}
			state := tfsdk.State{Schema: sch, Raw: tftypes.NewValue(sch.Type().TerraformType(ctx), nil)}
			stateValue := null
			if tc.state != nil {
				stateValue = *tc.state
				sm := model(tc.limits, stateValue)
				if d := state.Set(ctx, &sm); d.HasError() {
					t.Fatal(d)
				}
			}
			p := path.Root("resource_requests")
			preq := planmodifier.ObjectRequest{Path: p, Plan: plan, State: state, ConfigValue: tc.config, PlanValue: tc.config, StateValue: stateValue}
			if tc.config.IsNull() {
				preq.PlanValue = types.ObjectUnknown(requestsAttrTypes) // as the framework plans a computed value left out
			} else if !allKnown(tc.config) || tc.config.Attributes()["cpu"].IsNull() || tc.config.Attributes()["memory"].IsNull() {
				preq.PlanValue = types.ObjectValueMust(requestsAttrTypes, map[string]attr.Value{"cpu": types.StringUnknown(), "memory": types.StringUnknown()})
			}
			resp := &planmodifier.ObjectResponse{PlanValue: preq.PlanValue}
			for _, m := range sch.Attributes["resource_requests"].(schema.SingleNestedAttribute).PlanModifiers {
				preq.PlanValue = resp.PlanValue
				m.PlanModifyObject(ctx, preq, resp)
				if resp.Diagnostics.HasError() {
					t.Fatal(resp.Diagnostics)
				}
			}
			if tc.wantUnknown {
				for name, a := range resp.PlanValue.Attributes() {
					if !a.IsUnknown() {
						t.Fatalf("planned %s %v, want unknown", name, a)
					}
				}
				return
			}
			if !resp.PlanValue.Equal(tc.want) || resp.RequiresReplace != tc.wantReplace {
				t.Fatalf("planned %v (replace %v), want %v (replace %v)", resp.PlanValue, resp.RequiresReplace, tc.want, tc.wantReplace)
			}
			// What is planned for a new lab is what labd stores for it.
			if tc.state == nil && !tc.limits.IsUnknown() {
				l := &api.LabInstanceRequest{Metadata: api.ObjectMeta{Name: "x"}, Spec: api.Spec{LabTemplate: "x", StudentEmail: "a@b.edu", DurationMinutes: 1,
					ResourceLimits: apiResources(tc.limits), ResourceRequests: apiResources(tc.config)}}
				if err := api.PrepareCreate(l); err != nil {
					t.Fatal(err)
				}
				if got := requestsValue(l.Spec.ResourceRequests, types.ObjectNull(requestsAttrTypes)); !got.Equal(resp.PlanValue) {
					t.Fatalf("labd stores %v, the plan says %v", got, resp.PlanValue)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
