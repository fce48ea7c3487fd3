package provider

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/compare"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// Acceptance tests: the real terraform CLI drives the provider against a
// real labd (PostgreSQL store, Docker runtime). Labs run the local test
// image with small limits. Tests that wait for RUNNING need labd's
// reconciler; the PENDING ones (scheduled in the future) need only its API.

const addr = "lab_instance_request.test"

// labResource renders a lab_instance_request "test" with extra arguments.
func labResource(name, image string, duration int, extra string) string {
	return fmt.Sprintf(`
resource "lab_instance_request" "test" {
  name             = %q
  lab_template     = %q
  student_email    = "student@university.edu"
  duration_minutes = %d
  resource_limits = {
    cpu    = "0.1"
    memory = "32Mi"
  }
  timeouts {
    create = "2m"
    update = "2m"
    delete = "2m"
  }
%s
}
`, name, image, duration, extra)
}

// farFuture is a start time no test waits for.
func farFuture() string { return time.Now().Add(72 * time.Hour).UTC().Format(time.RFC3339) }

// captureAttr stores an attribute of addr into *dst during a Check.
func captureAttr(name string, dst *string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		rs, ok := s.RootModule().Resources[addr]
		if !ok {
			return fmt.Errorf("%s not in state", addr)
		}
		*dst = rs.Primary.Attributes[name]
		if *dst == "" {
			return fmt.Errorf("%s.%s is empty", addr, name)
		}
		return nil
	}
}

// checkNoContainers fails when labd still has a container for a lab uid.
func checkNoContainers(uid *string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		if *uid == "" {
			return fmt.Errorf("no uid captured")
		}
		ids, err := labContainers(*uid)
		if err != nil {
			return err
		}
		if len(ids) > 0 {
			return fmt.Errorf("containers %v of lab uid %s remain", ids, *uid)
		}
		return nil
	}
}

// checkDestroyed runs after destroy with the state from before it: every
// lab in it is gone from labd (destroy waited for the 404) and has no
// container left. earlier names labs replaced during the test; those not
// captured (a step failed before) are skipped, the test has failed anyway.
func checkDestroyed(d *labd, earlier ...*string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		for _, rs := range s.RootModule().Resources {
			if rs.Type != "lab_instance_request" {
				continue
			}
			key, err := parseImportID(rs.Primary.ID)
			if err != nil {
				return err
			}
			if _, err := d.Client.Get(context.Background(), key); !api.IsNotFound(err) {
				return fmt.Errorf("lab %s: after destroy, GET gave %v; want 404", key, err)
			}
			uid := rs.Primary.Attributes["uid"]
			if err := checkNoContainers(&uid)(s); err != nil {
				return err
			}
		}
		for _, uid := range earlier {
			if *uid == "" {
				continue
			}
			if err := checkNoContainers(uid)(s); err != nil {
				return err
			}
		}
		return nil
	}
}

// checkBackend runs check on the lab named name as labd has it now.
func checkBackend(d *labd, name string, check func(l *api.LabInstanceRequest) error) resource.TestCheckFunc {
	return func(*terraform.State) error {
		l, err := d.Client.Get(context.Background(), api.Key{Namespace: "default", Name: name})
		if err != nil {
			return err
		}
		return check(l)
	}
}

// checkContainerRunning verifies with Docker that the lab's container_id is
// a running container labelled with the lab's uid.
func checkContainerRunning(uid, containerID *string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		ids, err := labContainers(*uid)
		if err != nil {
			return err
		}
		if len(ids) != 1 || !strings.HasPrefix(ids[0], *containerID) {
			return fmt.Errorf("containers of lab uid %s: %v; want exactly container_id %s", *uid, ids, *containerID)
		}
		running, err := containerRunning(ids[0])
		if err != nil {
			return err
		}
		if !running {
			return fmt.Errorf("container %s is not running", ids[0])
		}
		return nil
	}
}

// TestAccLab_createRunning: apply returns once the lab is RUNNING, with its
// status recorded; the data sources read it; destroy returns once labd has
// removed the lab and its container.
func TestAccLab_createRunning(t *testing.T) {
	accPreCheck(t)
	requireDocker(t)
	d := startLabd(t)
	name := randName("acc-run")
	var uid, containerID string
	start := time.Now()
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		CheckDestroy:             checkDestroyed(d),
		Steps: []resource.TestStep{
			{
				Config: d.providerBlock() + labResource(name, testImage(), 30, `
  environment = { LAB_TYPE = "acceptance" }
  labels      = { course = "acc" }
`),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "id", "default/"+name),
					resource.TestCheckResourceAttr(addr, "namespace", "default"),
					resource.TestCheckResourceAttr(addr, "phase", "RUNNING"),
					resource.TestCheckResourceAttr(addr, "wait_for", "RUNNING"),
					resource.TestCheckResourceAttrSet(addr, "uid"),
					resource.TestCheckResourceAttrSet(addr, "started_at"),
					resource.TestMatchResourceAttr(addr, "access_url", regexp.MustCompile(`^http://localhost:\d+/labs/default/`+name+`/$`)),
					resource.TestMatchResourceAttr(addr, "access_token", regexp.MustCompile(`^[A-Z2-7]{26}$`)),
					resource.TestCheckResourceAttrSet(addr, "endpoint"),
					checkOpensThroughGateway("labrm test lab is up"),
					resource.TestCheckResourceAttrSet(addr, "resource_allocation.%"),
					resource.TestCheckNoResourceAttr(addr, "error_message"),
					resource.TestCheckNoResourceAttr(addr, "completed_at"),
					// Requests left out: labd's defaults, the memory one
					// lowered to the 32Mi limit, as the plan said.
					resource.TestCheckResourceAttr(addr, "resource_requests.cpu", api.DefaultRequestCPU),
					resource.TestCheckResourceAttr(addr, "resource_requests.memory", "32Mi"),
					resource.TestCheckNoResourceAttr(addr, "command.#"),
					resource.TestCheckNoResourceAttr(addr, "port"),
					captureAttr("uid", &uid),
					captureAttr("container_id", &containerID),
					checkContainerRunning(&uid, &containerID),
				),
			},
			{
				// The data sources see the same lab.
				Config: d.providerBlock() + labResource(name, testImage(), 30, `
  environment = { LAB_TYPE = "acceptance" }
  labels      = { course = "acc" }
`) + `
data "lab_instance_request" "one" {
  name = lab_instance_request.test.name
}
data "lab_instance_requests" "course" {
  labels     = { course = "acc" }
  phase      = "RUNNING"
  depends_on = [lab_instance_request.test]
}
data "lab_instance_requests" "none" {
  student_email = "nobody@university.edu"
  depends_on    = [lab_instance_request.test]
}
`,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttrPair("data.lab_instance_request.one", "uid", addr, "uid"),
					resource.TestCheckResourceAttrPair("data.lab_instance_request.one", "container_id", addr, "container_id"),
					resource.TestCheckResourceAttrPair("data.lab_instance_request.one", "access_token", addr, "access_token"),
					resource.TestCheckResourceAttrPair("data.lab_instance_requests.course", "items.0.access_token", addr, "access_token"),
					resource.TestCheckResourceAttr("data.lab_instance_request.one", "environment.LAB_TYPE", "acceptance"),
					resource.TestCheckResourceAttr("data.lab_instance_request.one", "resource_limits.cpu", "0.1"),
					resource.TestCheckResourceAttr("data.lab_instance_request.one", "resource_requests.memory", "32Mi"),
					resource.TestCheckResourceAttr("data.lab_instance_requests.course", "items.#", "1"),
					resource.TestCheckResourceAttrPair("data.lab_instance_requests.course", "items.0.uid", addr, "uid"),
					resource.TestCheckResourceAttr("data.lab_instance_requests.none", "items.#", "0"),
				),
			},
		},
	})
	t.Logf("create -> RUNNING -> destroy: %v", time.Since(start).Round(time.Millisecond))
}

// TestAccLab_updateDurationInPlace: duration_minutes and labels change in
// place: same uid and container, the backend has the new values.
func TestAccLab_updateDurationInPlace(t *testing.T) {
	accPreCheck(t)
	requireDocker(t)
	d := startLabd(t)
	name := randName("acc-upd")
	var uid string
	sameUID := statecheck.CompareValue(compare.ValuesSame())
	sameContainer := statecheck.CompareValue(compare.ValuesSame())
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		CheckDestroy:             checkDestroyed(d),
		Steps: []resource.TestStep{
			{
				Config: d.providerBlock() + labResource(name, testImage(), 30, ""),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "phase", "RUNNING"),
					resource.TestCheckNoResourceAttr(addr, "labels.%"),
					captureAttr("uid", &uid),
				),
				ConfigStateChecks: []statecheck.StateCheck{
					sameUID.AddStateValue(addr, tfjsonpath.New("uid")),
					sameContainer.AddStateValue(addr, tfjsonpath.New("container_id")),
				},
			},
			{
				Config: d.providerBlock() + labResource(name, testImage(), 45, `  labels = { team = "blue" }`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate),
						// Stable once RUNNING: known in the plan, so that
						// nothing depending on them is replanned.
						plancheck.ExpectKnownValue(addr, tfjsonpath.New("uid"), knownvalue.NotNull()),
						plancheck.ExpectKnownValue(addr, tfjsonpath.New("container_id"), knownvalue.NotNull()),
						plancheck.ExpectUnknownValue(addr, tfjsonpath.New("resource_version")),
						plancheck.ExpectUnknownValue(addr, tfjsonpath.New("phase")),
					},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "duration_minutes", "45"),
					resource.TestCheckResourceAttr(addr, "labels.team", "blue"),
					checkBackend(d, name, func(l *api.LabInstanceRequest) error {
						if l.Spec.DurationMinutes != 45 || l.Metadata.Labels["team"] != "blue" || l.Metadata.UID != uid {
							return fmt.Errorf("backend has duration %d labels %v uid %s; want 45, team=blue, uid %s",
								l.Spec.DurationMinutes, l.Metadata.Labels, l.Metadata.UID, uid)
						}
						return nil
					}),
				),
				ConfigStateChecks: []statecheck.StateCheck{
					sameUID.AddStateValue(addr, tfjsonpath.New("uid")),
					sameContainer.AddStateValue(addr, tfjsonpath.New("container_id")),
				},
			},
		},
	})
}

// TestAccLab_replaceOnTemplateChange: a new lab_template replaces the lab:
// new uid, and the old lab's container is gone.
func TestAccLab_replaceOnTemplateChange(t *testing.T) {
	accPreCheck(t)
	requireDocker(t)
	alt := altImage(t)
	d := startLabd(t)
	name := randName("acc-rep")
	var oldUID, newUID string
	differentUID := statecheck.CompareValue(compare.ValuesDiffer())
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		CheckDestroy:             checkDestroyed(d, &oldUID),
		Steps: []resource.TestStep{
			{
				Config: d.providerBlock() + labResource(name, testImage(), 30, ""),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "phase", "RUNNING"),
					captureAttr("uid", &oldUID),
				),
				ConfigStateChecks: []statecheck.StateCheck{differentUID.AddStateValue(addr, tfjsonpath.New("uid"))},
			},
			{
				Config: d.providerBlock() + labResource(name, alt, 30, ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(addr, plancheck.ResourceActionReplace),
						plancheck.ExpectUnknownValue(addr, tfjsonpath.New("uid")),
						plancheck.ExpectUnknownValue(addr, tfjsonpath.New("container_id")),
					},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "phase", "RUNNING"),
					resource.TestCheckResourceAttr(addr, "lab_template", alt),
					captureAttr("uid", &newUID),
					checkNoContainers(&oldUID),
				),
				ConfigStateChecks: []statecheck.StateCheck{differentUID.AddStateValue(addr, tfjsonpath.New("uid"))},
			},
		},
	})
}

// TestAccLab_import: a lab imports as "namespace/name" and as "name", and
// the imported state equals the created one. The lab is scheduled in the
// future so that it stays PENDING and its state does not move on.
func TestAccLab_import(t *testing.T) {
	accPreCheck(t)
	d := startLabd(t)
	name := randName("acc-imp")
	config := d.providerBlock() + labResource(name, testImage(), 60, fmt.Sprintf(`
  scheduled_start_time = %q
  wait_for             = "PENDING"
  environment          = { LAB_TYPE = "import", EMPTY = "" }
  labels               = { course = "acc", term = "2026-spring" }
  resource_requests    = { cpu = "0.05", memory = "16Mi" }
  workspace            = { mount_path = "/home/student" }
  command              = ["httpd", "-f"]
  args                 = ["-p", "8080", ""]
  port                 = 8080
  readiness_path       = "/index.html"
  idle_timeout_minutes = 45
  security_context     = { run_as_user = 1000, read_only_root_filesystem = true }
`, farFuture()))
	// wait_for and timeouts are Terraform-side settings the API does not
	// hold; an import takes their defaults.
	ignore := []string{"wait_for", "timeouts"}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		CheckDestroy:             checkDestroyed(d),
		Steps: []resource.TestStep{
			{
				Config: config,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "phase", "PENDING"),
					resource.TestCheckResourceAttr(addr, "environment.EMPTY", ""),
					resource.TestCheckResourceAttr(addr, "args.#", "3"),
					resource.TestCheckResourceAttr(addr, "args.2", ""),
					resource.TestCheckResourceAttr(addr, "security_context.run_as_user", "1000"),
				),
			},
			// Record whatever labd wrote right after the create (finalizer,
			// conditions) before comparing with an import.
			{RefreshState: true},
			{ResourceName: addr, ImportState: true, ImportStateVerify: true, ImportStateVerifyIgnore: ignore},
			{ResourceName: addr, ImportState: true, ImportStateVerify: true, ImportStateVerifyIgnore: ignore, ImportStateId: name},
			{
				ResourceName:  addr,
				ImportState:   true,
				ImportStateId: "default/" + name + "-missing",
				ExpectError:   regexp.MustCompile(`(?i)cannot\s+import\s+non-existent\s+remote\s+object`),
			},
			{
				ResourceName:  addr,
				ImportState:   true,
				ImportStateId: "Default/" + name,
				ExpectError:   regexp.MustCompile(`Invalid import id`),
			},
		},
	})
}

// TestAccLab_driftDelete: a lab deleted outside Terraform is dropped from
// state on refresh and planned for creation again.
func TestAccLab_driftDelete(t *testing.T) {
	accPreCheck(t)
	d := startLabd(t)
	name := randName("acc-drift")
	key := api.Key{Namespace: "default", Name: name}
	config := d.providerBlock() + labResource(name, testImage(), 60, fmt.Sprintf(`
  scheduled_start_time = %q
  wait_for             = "PENDING"
`, farFuture()))
	differentUID := statecheck.CompareValue(compare.ValuesDiffer())
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		CheckDestroy:             checkDestroyed(d),
		Steps: []resource.TestStep{
			{
				Config:            config,
				ConfigStateChecks: []statecheck.StateCheck{differentUID.AddStateValue(addr, tfjsonpath.New("uid"))},
			},
			{
				PreConfig: func() {
					if _, _, err := d.Client.Delete(context.Background(), key); err != nil {
						t.Fatalf("out-of-band delete: %v", err)
					}
					if err := d.waitGone(t, key, time.Minute); err != nil {
						t.Fatal(err)
					}
				},
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(addr, plancheck.ResourceActionCreate)},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "phase", "PENDING"),
					checkBackend(d, name, func(*api.LabInstanceRequest) error { return nil }),
				),
				ConfigStateChecks: []statecheck.StateCheck{differentUID.AddStateValue(addr, tfjsonpath.New("uid"))},
			},
		},
	})
}

// words matches words separated by whitespace or the box-drawing border
// terraform wraps diagnostics in.
func words(ws ...string) *regexp.Regexp {
	q := make([]string, len(ws))
	for i, w := range ws {
		q[i] = regexp.QuoteMeta(w)
	}
	return regexp.MustCompile(`(?s)` + strings.Join(q, `[\s│]+`))
}

// TestAccLab_failureSurfaced: a lab whose image does not exist fails; apply
// fails quoting labd's error_message, and the lab is kept in state as
// tainted (the next plan replaces it), never orphaned.
func TestAccLab_failureSurfaced(t *testing.T) {
	accPreCheck(t)
	requireDocker(t)
	d := startLabd(t)
	name := randName("acc-fail")
	const missing = "labrm/does-not-exist:acc"
	config := d.providerBlock() + labResource(name, missing, 30, "")
	var uid string
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		CheckDestroy:             checkDestroyed(d),
		Steps: []resource.TestStep{
			{
				Config: config,
				// "Lab default/<name> did not become RUNNING" ... "FAILED: "<error_message naming the image>"
				ExpectError: regexp.MustCompile(words("Lab", "default/"+name, "did", "not", "become", "RUNNING").String() +
					`.*` + words("lab", "default/"+name, "FAILED:").String() + `[\s│]+".*` + regexp.QuoteMeta("does-not-exist")),
			},
			{
				RefreshState:       true,
				ExpectNonEmptyPlan: true, // tainted: planned for replacement
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "phase", "FAILED"),
					resource.TestMatchResourceAttr(addr, "error_message", regexp.MustCompile(`does-not-exist`)),
					captureAttr("uid", &uid),
				),
			},
			{
				Config:             config,
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PostApplyPreRefresh: []plancheck.PlanCheck{plancheck.ExpectResourceAction(addr, plancheck.ResourceActionReplace)},
				},
			},
		},
	})
}

// TestAccLab_scheduledPending: with a start scheduled in the future and
// wait_for = "PENDING", apply returns at once with the lab PENDING and no
// container; asking to wait for RUNNING instead is refused at plan time.
func TestAccLab_scheduledPending(t *testing.T) {
	accPreCheck(t)
	d := startLabd(t)
	name := randName("acc-sched")
	at := farFuture()
	later := time.Now().Add(73 * time.Hour).UTC().Format(time.RFC3339)
	var applyStart time.Time
	var applied time.Duration
	replaced := statecheck.CompareValue(compare.ValuesDiffer())
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		CheckDestroy:             checkDestroyed(d),
		Steps: []resource.TestStep{
			{
				Config:      d.providerBlock() + labResource(name, testImage(), 60, fmt.Sprintf("  scheduled_start_time = %q\n", at)),
				PlanOnly:    true,
				ExpectError: words("Waiting", "for", "RUNNING", "would", "time", "out"),
			},
			{
				PreConfig: func() { applyStart = time.Now() },
				Config: d.providerBlock() + labResource(name, testImage(), 60, fmt.Sprintf(`
  scheduled_start_time = %q
  wait_for             = "PENDING"
`, at)),
				Check: resource.ComposeAggregateTestCheckFunc(
					func(*terraform.State) error { applied = time.Since(applyStart); return nil },
					resource.TestCheckResourceAttr(addr, "phase", "PENDING"),
					resource.TestCheckResourceAttr(addr, "scheduled_start_time", at),
					resource.TestCheckNoResourceAttr(addr, "container_id"),
					resource.TestCheckNoResourceAttr(addr, "started_at"),
					checkBackend(d, name, func(l *api.LabInstanceRequest) error {
						if l.Status.Phase != api.PhasePending || l.Spec.ScheduledStartTime != at {
							return fmt.Errorf("backend: phase %s start %q; want PENDING at %s", l.Status.Phase, l.Spec.ScheduledStartTime, at)
						}
						return nil
					}),
				),
			},
			{
				// Moving the start of a PENDING lab, its duration and labels
				// are in-place updates.
				Config: d.providerBlock() + labResource(name, testImage(), 90, fmt.Sprintf(`
  scheduled_start_time = %q
  wait_for             = "PENDING"
  labels               = { session = "exam" }
`, later)),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue(addr, tfjsonpath.New("uid"), knownvalue.NotNull()),
					},
				},
				ConfigStateChecks: []statecheck.StateCheck{replaced.AddStateValue(addr, tfjsonpath.New("uid"))},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "phase", "PENDING"),
					resource.TestCheckResourceAttr(addr, "scheduled_start_time", later),
					resource.TestCheckResourceAttr(addr, "duration_minutes", "90"),
					resource.TestCheckResourceAttr(addr, "labels.session", "exam"),
					checkBackend(d, name, func(l *api.LabInstanceRequest) error {
						if l.Spec.ScheduledStartTime != later || l.Spec.DurationMinutes != 90 || l.Metadata.Labels["session"] != "exam" || l.Metadata.Generation != 2 {
							return fmt.Errorf("backend: start %q duration %d labels %v generation %d; want %s, 90, session=exam, generation 2",
								l.Spec.ScheduledStartTime, l.Spec.DurationMinutes, l.Metadata.Labels, l.Metadata.Generation, later)
						}
						return nil
					}),
				),
			},
			{
				// Another student: an immutable argument, so a new lab
				// replaces the old one, planned with a new (unknown) uid.
				Config: d.providerBlock() + strings.Replace(labResource(name, testImage(), 90, fmt.Sprintf(`
  scheduled_start_time = %q
  wait_for             = "PENDING"
  labels               = { session = "exam" }
`, later)), "student@university.edu", "other@university.edu", 1),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(addr, plancheck.ResourceActionDestroyBeforeCreate),
						plancheck.ExpectUnknownValue(addr, tfjsonpath.New("uid")),
						plancheck.ExpectUnknownValue(addr, tfjsonpath.New("id")),
					},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "student_email", "other@university.edu"),
					resource.TestCheckResourceAttr(addr, "phase", "PENDING"),
				),
				ConfigStateChecks: []statecheck.StateCheck{replaced.AddStateValue(addr, tfjsonpath.New("uid"))},
			},
			{
				// Labels removed again: null in config stays null in state.
				Config: d.providerBlock() + strings.Replace(labResource(name, testImage(), 90, fmt.Sprintf(`
  scheduled_start_time = %q
  wait_for             = "PENDING"
`, later)), "student@university.edu", "other@university.edu", 1),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckNoResourceAttr(addr, "labels.%"),
					checkBackend(d, name, func(l *api.LabInstanceRequest) error {
						if len(l.Metadata.Labels) != 0 {
							return fmt.Errorf("backend still has labels %v", l.Metadata.Labels)
						}
						return nil
					}),
				),
			},
		},
	})
	t.Logf("plan+apply with wait_for=PENDING took %v", applied.Round(time.Millisecond))
}

// expectReplacedBy checks that the plan replaces addr because of attr
// (among its replace paths), not only that it replaces it.
type expectReplacedBy struct{ attr string }

func (e expectReplacedBy) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	for _, rc := range req.Plan.ResourceChanges {
		if rc.Address != addr {
			continue
		}
		for _, p := range rc.Change.ReplacePaths {
			if steps, ok := p.([]any); ok && len(steps) == 1 && steps[0] == e.attr {
				return
			}
		}
		resp.Error = fmt.Errorf("%s: replace paths %v do not include %s", addr, rc.Change.ReplacePaths, e.attr)
		return
	}
	resp.Error = fmt.Errorf("%s not in the plan", addr)
}

// TestAccLab_workloadArguments: requests (the memory left out, so
// defaulted), command, args, port, readiness path and idle timeout reach
// labd as written and come back so that the plan after apply is empty; idle_timeout_minutes changes in place (same
// lab, new generation); a new port replaces the lab. The lab runs the test
// image's httpd by an explicit command, so it stays a working lab once labd
// runs what these arguments say.
func TestAccLab_workloadArguments(t *testing.T) {
	accPreCheck(t)
	requireDocker(t)
	d := startLabd(t)
	name := randName("acc-wl")
	config := func(port, idle int) string {
		return d.providerBlock() + labResource(name, testImage(), 30, fmt.Sprintf(`
  resource_requests    = { cpu = "0.05" }
  command              = ["httpd", "-f", "-p", "%d"]
  args                 = ["-h", "/www"]
  port                 = %d
  readiness_path       = "/"
  idle_timeout_minutes = %d
`, port, port, idle))
	}
	var oldUID string
	sameUID := statecheck.CompareValue(compare.ValuesSame())
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		CheckDestroy:             checkDestroyed(d, &oldUID),
		Steps: []resource.TestStep{
			{
				Config: config(8080, 30),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "phase", "RUNNING"),
					resource.TestCheckResourceAttr(addr, "resource_requests.cpu", "0.05"),
					// Left out: the default, lowered to the 32Mi limit.
					resource.TestCheckResourceAttr(addr, "resource_requests.memory", "32Mi"),
					resource.TestCheckResourceAttr(addr, "command.#", "4"),
					resource.TestCheckResourceAttr(addr, "command.3", "8080"),
					resource.TestCheckResourceAttr(addr, "args.1", "/www"),
					resource.TestCheckResourceAttr(addr, "port", "8080"),
					resource.TestCheckResourceAttr(addr, "readiness_path", "/"),
					resource.TestCheckResourceAttr(addr, "idle_timeout_minutes", "30"),
					resource.TestCheckNoResourceAttr(addr, "workspace.mount_path"),
					captureAttr("uid", &oldUID),
					checkBackend(d, name, func(l *api.LabInstanceRequest) error {
						s := l.Spec
						if s.ResourceRequests == nil || *s.ResourceRequests != (api.ResourceRequests{CPU: "0.05", Memory: "32Mi"}) ||
							strings.Join(s.Command, " ") != "httpd -f -p 8080" || strings.Join(s.Args, " ") != "-h /www" ||
							s.Port != 8080 || s.ReadinessPath != "/" || s.IdleTimeoutMinutes != 30 || s.Workspace != nil || s.SecurityContext != nil {
							return fmt.Errorf("backend spec %+v", s)
						}
						return nil
					}),
				),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				ConfigStateChecks: []statecheck.StateCheck{sameUID.AddStateValue(addr, tfjsonpath.New("uid"))},
			},
			// Plans settle: the same configuration plans nothing.
			{Config: config(8080, 30), PlanOnly: true},
			{
				Config: config(8080, 60),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue(addr, tfjsonpath.New("uid"), knownvalue.NotNull()),
						plancheck.ExpectKnownValue(addr, tfjsonpath.New("idle_timeout_minutes"), knownvalue.Int64Exact(60)),
					},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "idle_timeout_minutes", "60"),
					checkBackend(d, name, func(l *api.LabInstanceRequest) error {
						if l.Spec.IdleTimeoutMinutes != 60 || l.Metadata.UID != oldUID || l.Metadata.Generation != 2 {
							return fmt.Errorf("backend idle_timeout_minutes %d uid %s generation %d; want 60, uid %s, generation 2",
								l.Spec.IdleTimeoutMinutes, l.Metadata.UID, l.Metadata.Generation, oldUID)
						}
						return nil
					}),
				),
				ConfigStateChecks: []statecheck.StateCheck{sameUID.AddStateValue(addr, tfjsonpath.New("uid"))},
			},
			{
				// Another port (and the command that serves it): a new lab.
				Config: config(8081, 60),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(addr, plancheck.ResourceActionDestroyBeforeCreate),
						expectReplacedBy{"port"},
						plancheck.ExpectUnknownValue(addr, tfjsonpath.New("uid")),
					},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "phase", "RUNNING"),
					resource.TestCheckResourceAttr(addr, "port", "8081"),
					checkNoContainers(&oldUID),
					checkBackend(d, name, func(l *api.LabInstanceRequest) error {
						if l.Spec.Port != 8081 || l.Metadata.UID == oldUID {
							return fmt.Errorf("backend port %d uid %s; want 8081 and a new uid", l.Spec.Port, l.Metadata.UID)
						}
						return nil
					}),
				),
			},
		},
	})
}
