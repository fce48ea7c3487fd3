package provider

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
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
				plancheck.ExpectUnknownValue(addr, tfjsonpath.New("id")),
				plancheck.ExpectUnknownValue(addr, tfjsonpath.New("uid")),
				plancheck.ExpectUnknownValue(addr, tfjsonpath.New("phase")),
				plancheck.ExpectUnknownValue(addr, tfjsonpath.New("container_id")),
				plancheck.ExpectUnknownValue(addr, tfjsonpath.New("access_url")),
			),
			planOnly(planLab(fmt.Sprintf("duration_minutes = 60\n scheduled_start_time = %q", in3h)),
				words("Waiting", "for", "RUNNING", "would", "time", "out")),
			planOnly(planLab(fmt.Sprintf("duration_minutes = 60\n scheduled_start_time = %q\n wait_for = \"PENDING\"", in3h)), nil),
			planOnly(planLab(fmt.Sprintf("duration_minutes = 60\n scheduled_start_time = %q\n timeouts { create = \"4h\" }", in3h)), nil),
			planOnly(planLab(fmt.Sprintf("duration_minutes = 60\n scheduled_start_time = %q", in5m)), nil),
		},
	})
}
