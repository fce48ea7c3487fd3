package provider

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

// capacityServer answers GET /api/status/capacity with body, and 404
// everything else (a plan asks nothing else).
func capacityServer(t *testing.T, status int, body string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/status/capacity" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func planAt(endpoint, args string) string {
	return strings.Replace(planLab(args), "http://127.0.0.1:1", endpoint, 1)
}

// TestPlanLargerThanLabdCanRun: a lab whose limits exceed the largest lab
// labd says it can run fails at plan time naming the limit; within it, or
// with a labd that does not say (no capacity route, no max_per_lab field),
// the plan goes on.
func TestPlanLargerThanLabdCanRun(t *testing.T) {
	requireTerraform(t)
	t.Parallel()
	says := capacityServer(t, http.StatusOK, `{"total":{"cpu":"2","memory":"4Gi"},"max_per_lab":{"cpu":"2","memory":"4Gi"}}`)
	silent := capacityServer(t, http.StatusOK, `{"total":{"cpu":"2","memory":"4Gi"}}`)
	older := capacityServer(t, http.StatusNotFound, `{"type":"about:blank","title":"Not Found","status":404,"code":"not_found"}`)
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			planOnly(planAt(says, "duration_minutes = 60\n resource_limits = { cpu = \"8\", memory = \"64Mi\" }"),
				words("resource_limits.cpu", "is", "8,", "but", "the", "largest", "lab", "this", "labd", "installation", "can", "ever", "run", "has", "2", "CPU")),
			planOnly(planAt(says, "duration_minutes = 60\n resource_limits = { cpu = \"1\", memory = \"8Gi\" }"),
				words("resource_limits.memory", "is", "8Gi")),
			planOnly(planAt(says, "duration_minutes = 60\n resource_limits = { cpu = \"2\", memory = \"4Gi\" }"), nil),
			planOnly(planAt(silent, "duration_minutes = 60\n resource_limits = { cpu = \"8\", memory = \"64Mi\" }"), nil),
			planOnly(planAt(older, "duration_minutes = 60\n resource_limits = { cpu = \"8\", memory = \"64Mi\" }"), nil),
		},
	})
}
