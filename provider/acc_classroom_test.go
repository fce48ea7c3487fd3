package provider

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// classSize is the class of the issue: 30 labs of the test image on this
// 2-core machine, with labd's default settings.
const classSize = 30

// classConfig is a class of n students, each with a lab of the test image
// that names no resource_limits nor resource_requests (labd's defaults)
// and a workspace, as examples/classroom does.
func classConfig(d *labd, ns string, n int) string {
	return d.providerBlock() + fmt.Sprintf(`
resource "lab_instance_request" "class" {
  count            = %d
  name             = "student-${count.index}"
  namespace        = %q
  lab_template     = %q
  student_email    = "student${count.index}@university.edu"
  duration_minutes = 60
  labels           = { course = "acc-class" }
  workspace = {
    mount_path = "/home/student"
  }
  timeouts {
    create = "5m"
    delete = "5m"
  }
}

data "lab_workspaces" "class" {
  namespace  = %q
  depends_on = [lab_instance_request.class]
}
`, n, ns, testImage(), ns)
}

// awaitCapacity waits until labd's leader has recorded its capacity, which
// the plan-time check reads.
func (d *labd) awaitCapacity(t *testing.T) {
	t.Helper()
	err := eventually(context.Background(), 60*time.Second, 100*time.Millisecond, func(ctx context.Context) error {
		_, err := d.Client.Capacity(ctx, 0)
		return err
	})
	if err != nil {
		t.Fatalf("labd never reported its capacity: %v", err)
	}
}

// TestAccLab_classOfThirty: with labd's default settings, terraform apply
// of a class of 30 labs of the test image, none naming limits or requests,
// reaches RUNNING for every lab (the default requests, 50m and 256Mi,
// reserve 1.5 CPUs and 7.5 GiB of this 2-core, 24 GiB machine); each
// student has a workspace, listed by lab_workspaces.
func TestAccLab_classOfThirty(t *testing.T) {
	accPreCheck(t)
	requireDocker(t)
	d := startLabd(t)
	ns := randName("acc-class")
	t.Cleanup(func() {
		// Workspaces outlive their labs by design: remove this test's.
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		wss, _ := d.Client.Workspaces(ctx, ns, "")
		for _, w := range wss {
			if _, err := d.Client.DeleteWorkspace(ctx, ns, w.StudentEmail); err != nil {
				t.Logf("remove workspace of %s: %v", w.StudentEmail, err)
			}
		}
	})
	start := time.Now()
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		CheckDestroy:             checkDestroyed(d),
		Steps: []resource.TestStep{{
			PreConfig: func() { d.awaitCapacity(t) },
			Config:    classConfig(d, ns, classSize),
			Check: resource.ComposeAggregateTestCheckFunc(
				func(s *terraform.State) error {
					t.Logf("%d labs RUNNING %v after apply started", classSize, time.Since(start).Round(time.Second))
					running := 0
					for _, rs := range s.RootModule().Resources {
						if rs.Type != "lab_instance_request" {
							continue
						}
						if rs.Primary.Attributes["phase"] != "RUNNING" {
							return fmt.Errorf("%s is %s", rs.Primary.ID, rs.Primary.Attributes["phase"])
						}
						if rs.Primary.Attributes["resource_limits.cpu"] != api.DefaultCPU || rs.Primary.Attributes["resource_requests.cpu"] != api.DefaultRequestCPU {
							return fmt.Errorf("%s: limits %s, requests %s; want the defaults", rs.Primary.ID,
								rs.Primary.Attributes["resource_limits.cpu"], rs.Primary.Attributes["resource_requests.cpu"])
						}
						running++
					}
					if running != classSize {
						return fmt.Errorf("%d labs RUNNING in state, want %d", running, classSize)
					}
					return nil
				},
				resource.TestCheckResourceAttr("data.lab_workspaces.class", "items.#", fmt.Sprint(classSize)),
				resource.TestCheckResourceAttr("data.lab_workspaces.class", "items.0.labs.#", "1"),
				resource.TestMatchResourceAttr("data.lab_workspaces.class", "items.0.name", regexp.MustCompile(`^ws-[0-9a-f]{24}$`)),
				func(*terraform.State) error {
					st, err := d.Client.Capacity(context.Background(), 0)
					if err != nil {
						return err
					}
					if st.Admitted != classSize || st.Queued != 0 {
						return fmt.Errorf("capacity %+v: want %d admitted, none queued", st, classSize)
					}
					return nil
				},
			),
		}},
	})
}

// TestAccLab_requestsExceedCapacity: a lab whose requests exceed what labd
// may reserve in total fails at plan time, on the attribute.
func TestAccLab_requestsExceedCapacity(t *testing.T) {
	accPreCheck(t)
	d := startLabd(t)
	name := randName("acc-huge")
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{{
			PreConfig: func() { d.awaitCapacity(t) },
			Config: d.providerBlock() + fmt.Sprintf(`
resource "lab_instance_request" "test" {
  name             = %q
  lab_template     = %q
  student_email    = "student@university.edu"
  duration_minutes = 30
  resource_limits   = { cpu = "8", memory = "64Gi" }
  resource_requests = { cpu = "8", memory = "64Gi" }
}
`, name, testImage()),
			PlanOnly:    true,
			ExpectError: words("Requests", "exceed", "labd's", "capacity"),
		}},
	})
	if _, err := d.Client.Get(context.Background(), api.Key{Namespace: "default", Name: name}); !api.IsNotFound(err) {
		t.Fatalf("the refused lab exists on labd: %v", err)
	}
}
