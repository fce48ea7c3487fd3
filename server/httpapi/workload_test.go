package httpapi_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/httpapi"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// TestOpenAPIWorkloadFields sends the spec's workload fields (requests,
// workspace, command, args, port, readiness path, idle timeout, security
// context) through the real router and each real store, in every body
// format and both create forms, and validates every exchange against the
// OpenAPI document: they are stored and returned as sent, defaulted and
// refused as internal/api says, and the status fields the controller
// writes (endpoint, last_activity) are served as the document declares.
func TestOpenAPIWorkloadFields(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		c := newSpecChecker(t)
		base := specServer(t, httpapi.Config{Store: db, ControlPlane: specController{}})
		const coll = "/api/lab-instances/"
		get := func(path string) *api.LabInstanceRequest {
			var l api.LabInstanceRequest
			c.do(base, "GET", path, 200, nil).decode(t, &l)
			return &l
		}

		// Flat form, JSON: every field as sent.
		flat := flatBody("wl-flat", func(m map[string]any) {
			m["resource_limits"] = map[string]any{"cpu": "0.5", "memory": "512Mi"}
			m["resource_requests"] = map[string]any{"cpu": "0.1", "memory": "128Mi"}
			m["workspace"] = map[string]any{"mount_path": "/home/student"}
			m["command"] = []string{"httpd", "-f", "-p", "8080"}
			m["args"] = []string{"-h", "/www", ""}
			m["port"] = 8080
			m["readiness_path"] = "/index.html?probe=1"
			m["idle_timeout_minutes"] = 30
			m["security_context"] = map[string]any{"run_as_user": 0, "read_only_root_filesystem": true}
		})
		var created api.LabInstanceRequest
		c.do(base, "POST", coll, 201, []byte(flat), "Content-Type", jsonType).decode(t, &created)
		s := created.Spec
		if *s.ResourceRequests != (api.ResourceRequests{CPU: "0.1", Memory: "128Mi"}) || s.Workspace.MountPath != "/home/student" ||
			!slices.Equal(s.Command, []string{"httpd", "-f", "-p", "8080"}) || !slices.Equal(s.Args, []string{"-h", "/www", ""}) ||
			s.Port != 8080 || s.ReadinessPath != "/index.html?probe=1" || s.IdleTimeoutMinutes != 30 ||
			s.SecurityContext == nil || s.SecurityContext.RunAsUser == nil || *s.SecurityContext.RunAsUser != 0 || !s.SecurityContext.ReadOnlyRootFilesystem {
			t.Fatalf("created spec %+v", s)
		}
		// Read back in every format: the XML answer keeps the empty arg.
		for _, accept := range []string{jsonType, yamlType, xmlType} {
			c.do(base, "GET", coll+"wl-flat", 200, nil, "Accept", accept)
		}
		if got := get(coll + "wl-flat"); !api.SpecEqual(&got.Spec, &created.Spec) || !slices.Equal(got.Spec.Args, created.Spec.Args) {
			t.Fatalf("stored spec %+v, want %+v", got.Spec, created.Spec)
		}

		// Manifest form, XML, and requests left out: defaulted under small
		// limits, each clamped to its limit.
		c.do(base, "POST", "/api/lab-instances/?namespace=cs101", 201, []byte(`<LabInstanceRequest><metadata><name>wl-xml</name></metadata><spec>`+
			`<lab_template>labrm/busybox:test</lab_template><student_email>x@university.edu</student_email><duration_minutes>5</duration_minutes>`+
			`<resource_limits><cpu>0.1</cpu><memory>32Mi</memory></resource_limits>`+
			`<command><arg>httpd</arg><arg>-f</arg></command><args><arg>-p</arg><arg>8080</arg><arg></arg></args><port>8080</port>`+
			`<security_context><read_only_root_filesystem>true</read_only_root_filesystem></security_context></spec></LabInstanceRequest>`),
			"Content-Type", xmlType, "Accept", xmlType)
		x := get(coll + "wl-xml?namespace=cs101")
		if rr := x.Spec.ResourceRequests; rr == nil || *rr != (api.ResourceRequests{CPU: "50m", Memory: "32Mi"}) {
			t.Fatalf("defaulted requests %+v, want 50m and the 32Mi limit", rr)
		}
		if !slices.Equal(x.Spec.Args, []string{"-p", "8080", ""}) || x.Spec.SecurityContext.RunAsUser != nil || x.Spec.Port != 8080 {
			t.Fatalf("XML spec %+v", x.Spec)
		}

		// Refused: 422 naming each field by its path in the form sent.
		bad := c.do(base, "POST", coll, 422, []byte(flatBody("wl-bad", func(m map[string]any) {
			m["workspace"] = map[string]any{"mount_path": "/proc/self"}
			m["resource_requests"] = map[string]any{"cpu": "2", "memory": "1Gi"}
			m["command"] = []string{""}
			m["port"] = 70000
			m["readiness_path"] = "http://evil.example/"
			m["idle_timeout_minutes"] = 481
			m["security_context"] = map[string]any{"run_as_user": -1}
		})), "Content-Type", jsonType)
		var prob api.Problem
		bad.decode(t, &prob)
		var named []string
		for _, f := range prob.Errors {
			named = append(named, f.Field)
		}
		for _, want := range []string{"workspace.mount_path", "resource_requests.cpu", "command[0]", "port", "readiness_path",
			"idle_timeout_minutes", "security_context.run_as_user"} {
			if !slices.Contains(named, want) {
				t.Errorf("422 names %v; want %s among them", named, want)
			}
		}
		c.do(base, "POST", coll, 400, []byte(flatBody("wl-typo", func(m map[string]any) { m["workspace"] = map[string]any{"path": "/x"} })),
			"Content-Type", jsonType)

		// idle_timeout_minutes changes in place (a new generation); the
		// other workload fields are immutable.
		path := coll + "wl-flat"
		var patched api.LabInstanceRequest
		c.do(base, "PATCH", path, 200, []byte(`{"spec":{"idle_timeout_minutes":60}}`), "Content-Type", mergePatch).decode(t, &patched)
		if patched.Spec.IdleTimeoutMinutes != 60 || patched.Metadata.Generation != created.Metadata.Generation+1 {
			t.Fatalf("patched idle timeout %d generation %d", patched.Spec.IdleTimeoutMinutes, patched.Metadata.Generation)
		}
		// A PUT as a client writes it: metadata and spec.
		replace := func(spec api.Spec) []byte {
			return []byte(mustJSON(map[string]any{"metadata": map[string]any{"name": "wl-flat"}, "spec": spec}))
		}
		spec := patched.Spec
		spec.IdleTimeoutMinutes = 0
		spec.ResourceRequests = &api.ResourceRequests{CPU: "100m", Memory: "128Mi"} // the same amounts, spelled otherwise: a change
		c.do(base, "PUT", path, 422, replace(spec), "Content-Type", jsonType, "If-Match", "*")
		spec.ResourceRequests = created.Spec.ResourceRequests
		var replaced api.LabInstanceRequest
		c.do(base, "PUT", path, 200, replace(spec), "Content-Type", jsonType, "If-Match", "*").decode(t, &replaced)
		if replaced.Spec.IdleTimeoutMinutes != 0 || !slices.Equal(replaced.Spec.Args, created.Spec.Args) {
			t.Fatalf("replaced spec %+v", replaced.Spec)
		}
		for _, p := range []string{`{"spec":{"port":9090}}`, `{"spec":{"command":["sh"]}}`, `{"spec":{"args":null}}`,
			`{"spec":{"workspace":null}}`, `{"spec":{"readiness_path":"/"}}`, `{"spec":{"security_context":{"run_as_user":1000}}}`,
			`{"spec":{"resource_requests":{"cpu":"0.2"}}}`} {
			c.do(base, "PATCH", path, 422, []byte(p), "Content-Type", mergePatch)
		}
		for _, p := range []string{`{"status":{"endpoint":"10.0.0.1:22"}}`, `{"status":{"last_activity":"2030-01-01T00:00:00Z"}}`} {
			c.do(base, "PATCH", path, 422, []byte(p), "Content-Type", mergePatch)
		}

		// The status fields the controller writes are served as declared.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
		if _, err := db.UpdateLab(ctx, api.Key{Namespace: "default", Name: "wl-flat"}, store.WriteOptions{}, func(l *api.LabInstanceRequest) error {
			l.Status.Endpoint = "172.18.0.5:8080"
			l.Status.LastActivity = &at
			return nil
		}); err != nil {
			t.Fatalf("status write: %v", err)
		}
		if got := get(path); got.Status.Endpoint != "172.18.0.5:8080" || got.Status.LastActivity == nil || !got.Status.LastActivity.Equal(at) {
			t.Fatalf("status %+v", got.Status)
		}
		c.do(base, "GET", path, 200, nil, "Accept", yamlType)
		c.do(base, "GET", path, 200, nil, "Accept", xmlType)
		c.do(base, "GET", coll, 200, nil)
	})
}
