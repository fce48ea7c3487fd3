package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// TestWalkthrough runs the design document's curl commands verbatim.
func TestWalkthrough(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *env) {
		r := e.do("POST", "/api/lab-instances/", `{"name":"my-python-lab","namespace":"default","lab_template":"python:3.9-alpine","student_email":"student@university.edu","duration_minutes":60,"environment":{"LAB_TYPE":"python-basics"}}`,
			"Content-Type", "application/json").want(t, http.StatusCreated)
		l := r.lab(t)
		if l.APIVersion != api.APIVersion || l.Kind != api.Kind || l.Metadata.Name != "my-python-lab" || l.Metadata.Namespace != "default" {
			t.Fatalf("created %+v", l)
		}
		if l.Metadata.UID == "" || l.Metadata.ResourceVersion == 0 || l.Metadata.Generation != 1 || l.Metadata.CreationTimestamp == nil {
			t.Fatalf("server fields not set: %+v", l.Metadata)
		}
		if l.Status.Phase != api.PhasePending || l.Spec.Environment["LAB_TYPE"] != "python-basics" {
			t.Fatalf("created %+v", l)
		}
		if rl := l.Spec.ResourceLimits; rl == nil || rl.CPU != api.DefaultCPU || rl.Memory != api.DefaultMemory {
			t.Fatalf("resource_limits not defaulted: %+v", rl)
		}
		if got := r.header.Get("ETag"); got != etagOf(l.Metadata.ResourceVersion) {
			t.Fatalf("ETag %q, want %q", got, etagOf(l.Metadata.ResourceVersion))
		}
		if got := r.header.Get("Location"); got != "/api/lab-instances/my-python-lab?namespace=default" {
			t.Fatalf("Location %q", got)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type %q", ct)
		}

		list := e.do("GET", "/api/lab-instances/", "").want(t, http.StatusOK).list(t)
		if list.Kind != api.ListKind || len(list.Items) != 1 || list.Items[0].Metadata.Name != "my-python-lab" || list.Metadata.ResourceVersion <= 0 {
			t.Fatalf("list %+v", list)
		}
		// The same without the trailing slash, and no redirect.
		if got := e.do("GET", "/api/lab-instances", "").want(t, http.StatusOK).list(t); len(got.Items) != 1 {
			t.Fatalf("list without slash: %+v", got)
		}

		got := e.do("GET", "/api/lab-instances/my-python-lab", "").want(t, http.StatusOK)
		if g := got.lab(t); g.Metadata.UID != l.Metadata.UID || g.Spec.StudentEmail != "student@university.edu" {
			t.Fatalf("get %+v", g)
		}
		if got.header.Get("ETag") == "" {
			t.Fatal("GET without ETag")
		}

		if items := e.do("GET", "/api/lab-instances/?phase=RUNNING", "").want(t, http.StatusOK).list(t).Items; len(items) != 0 {
			t.Fatalf("phase=RUNNING: %d items, want 0 (nothing runs without a controller)", len(items))
		}
		if items := e.do("GET", "/api/lab-instances/?phase=pending", "").want(t, http.StatusOK).list(t).Items; len(items) != 1 {
			t.Fatalf("phase=pending: %d items, want 1", len(items))
		}
		if items := e.do("GET", "/api/lab-instances/?student_email=student@university.edu", "").want(t, http.StatusOK).list(t).Items; len(items) != 1 {
			t.Fatalf("student_email: %d items, want 1", len(items))
		}
		if items := e.do("GET", "/api/lab-instances/?student_email=other@university.edu", "").want(t, http.StatusOK).list(t).Items; len(items) != 0 {
			t.Fatalf("other student_email: %d items, want 0", len(items))
		}

		ev := e.do("GET", "/api/lab-instances/my-python-lab/events", "").want(t, http.StatusOK)
		var events api.LabEventList
		decodeJSON(t, ev.body, &events)
		if len(events.Items) == 0 || events.Items[0].Type != api.EventCreated {
			t.Fatalf("events %s", ev.body)
		}
		e.do("GET", "/api/lab-instances/nope/events", "").problem(t, http.StatusNotFound, api.ENOTFOUND)
	})
}

func TestCreateManifest(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *env) {
		body := `{"api_version":"lab.labrm.io/v1","kind":"LabInstanceRequest",
			"metadata":{"name":"m1","labels":{"team":"blue"},"annotations":{"note":"x"},"uid":"ignored","resource_version":99},
			"spec":{"lab_template":"jupyter/base-notebook:latest","student_email":"a@b.edu","duration_minutes":30,
			        "resource_limits":{"cpu":"500m","memory":"512Mi"}},
			"status":{"phase":"RUNNING","container_id":"abc"}}`
		l := e.do("POST", "/api/lab-instances/?namespace=course-1", body).want(t, http.StatusCreated).lab(t)
		if l.Metadata.Namespace != "course-1" || l.Metadata.Labels["team"] != "blue" || l.Metadata.Annotations["note"] != "x" {
			t.Fatalf("metadata %+v", l.Metadata)
		}
		if l.Metadata.UID == "ignored" || l.Status.Phase != api.PhasePending || l.Status.ContainerID != "" {
			t.Fatalf("server-owned fields taken from the body: %+v %+v", l.Metadata, l.Status)
		}
		if l.Spec.ResourceLimits.CPU != "500m" {
			t.Fatalf("spec %+v", l.Spec)
		}
		// Other namespaces do not see it; the default namespace is the
		// default for single-object routes.
		e.do("GET", "/api/lab-instances/m1", "").problem(t, http.StatusNotFound, api.ENOTFOUND)
		e.do("GET", "/api/lab-instances/m1?namespace=course-1", "").want(t, http.StatusOK)

		// Wrong kind is reported, not overwritten.
		p := e.do("POST", "/api/lab-instances/", strings.Replace(body, `"kind":"LabInstanceRequest"`, `"kind":"Pod"`, 1)).
			problem(t, http.StatusUnprocessableEntity, api.EINVALID)
		wantField(t, p, "kind")

		// The two forms do not mix.
		p = e.do("POST", "/api/lab-instances/", `{"metadata":{"name":"x"},"lab_template":"python:3"}`).problem(t, http.StatusBadRequest, api.EBADREQUEST)
		if !strings.Contains(p.Detail, "lab_template") {
			t.Fatalf("mixing detail %q", p.Detail)
		}

		// ?namespace= and the body must agree.
		p = e.do("POST", "/api/lab-instances/?namespace=other", flatBody("x1")).problem(t, http.StatusBadRequest, api.EBADREQUEST)
		wantField(t, p, "namespace")
		p = e.do("POST", "/api/lab-instances/?namespace=BAD_NS", flatBody("x1", func(m map[string]any) { delete(m, "namespace") })).
			problem(t, http.StatusUnprocessableEntity, api.EINVALID)
		wantField(t, p, "namespace")
		e.do("GET", "/api/lab-instances/x1", "").problem(t, http.StatusNotFound, api.ENOTFOUND)
	})
}

// TestCreateValidation checks that each rule names its field, in the
// spelling of the form the client used, and that nothing is stored.
func TestCreateValidation(t *testing.T) {
	t.Parallel()
	many := map[string]any{}
	for i := range api.MaxEnvironment + 1 {
		many[fmt.Sprintf("V%d", i)] = "x"
	}
	cases := []struct {
		name   string
		change func(m map[string]any)
		field  string
	}{
		{"name", func(m map[string]any) { m["name"] = "Not_A_Name" }, "name"},
		{"missing name", func(m map[string]any) { delete(m, "name") }, "name"},
		{"namespace", func(m map[string]any) { m["namespace"] = "-x" }, "namespace"},
		{"image", func(m map[string]any) { m["lab_template"] = "Python 3!" }, "lab_template"},
		{"email", func(m map[string]any) { m["student_email"] = "not-an-email" }, "student_email"},
		{"duration low", func(m map[string]any) { m["duration_minutes"] = 0 }, "duration_minutes"},
		{"duration high", func(m map[string]any) { m["duration_minutes"] = 481 }, "duration_minutes"},
		{"start time", func(m map[string]any) { m["scheduled_start_time"] = "tomorrow" }, "scheduled_start_time"},
		{"env key", func(m map[string]any) { m["environment"] = map[string]any{"1BAD": "x"} }, "environment[1BAD]"},
		{"env count", func(m map[string]any) { m["environment"] = many }, "environment"},
		{"cpu zero", func(m map[string]any) { m["resource_limits"] = map[string]any{"cpu": "0", "memory": "1Gi"} }, "resource_limits.cpu"},
		{"cpu high", func(m map[string]any) { m["resource_limits"] = map[string]any{"cpu": "9", "memory": "1Gi"} }, "resource_limits.cpu"},
		{"memory", func(m map[string]any) { m["resource_limits"] = map[string]any{"cpu": "1", "memory": "lots"} }, "resource_limits.memory"},
		{"label", func(m map[string]any) { m["labels"] = map[string]any{"bad key!": "x"} }, "labels[bad key!]"},
	}
	eachEnv(t, func(t *testing.T, e *env) {
		for _, tc := range cases {
			p := e.do("POST", "/api/lab-instances/", flatBody("valid-name", tc.change)).problem(t, http.StatusUnprocessableEntity, api.EINVALID)
			if !hasField(p, tc.field) {
				t.Errorf("%s: problem does not name %q: %+v", tc.name, tc.field, p.Errors)
			}
			if p.Instance != "/api/lab-instances/" {
				t.Errorf("%s: instance %q", tc.name, p.Instance)
			}
		}
		// The manifest form names fields by their manifest path.
		p := e.do("POST", "/api/lab-instances/", `{"metadata":{"name":"valid-name"},"spec":{"lab_template":"python:3","student_email":"a@b.edu","duration_minutes":999}}`).
			problem(t, http.StatusUnprocessableEntity, api.EINVALID)
		wantField(t, p, "spec.duration_minutes")
		e.do("GET", "/api/lab-instances/valid-name", "").problem(t, http.StatusNotFound, api.ENOTFOUND)
		if n := len(e.do("GET", "/api/lab-instances/", "").want(t, http.StatusOK).list(t).Items); n != 0 {
			t.Fatalf("%d labs stored after rejected creates", n)
		}
	})
}

func TestBadBodies(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *env) {
		cases := []struct {
			name, body, ct string
			status         int
			code, field    string
		}{
			{"unknown flat field", flatBody("a1", func(m map[string]any) { m["colour"] = "red" }), "application/json", 400, api.EBADREQUEST, "colour"},
			{"field names are case-sensitive", flatBody("a1", func(m map[string]any) { m["Lab_Template"] = "x" }), "application/json", 400, api.EBADREQUEST, "Lab_Template"},
			{"unknown manifest field", `{"metadata":{"name":"a1"},"spec":{"lab_template":"python:3","student_email":"a@b.edu","duration_minutes":5,"gpu":true}}`, "application/json", 400, api.EBADREQUEST, "spec.gpu"},
			{"unknown yaml field", "name: a1\nlab_template: python:3\nstudent_email: a@b.edu\nduration_minutes: 5\nsize: big\n", "application/yaml", 400, api.EBADREQUEST, "size"},
			{"unknown xml element", `<LabInstanceRequest><metadata><name>a1</name></metadata><spec><lab_template>python:3</lab_template><student_email>a@b.edu</student_email><duration_minutes>5</duration_minutes><gpu>1</gpu></spec></LabInstanceRequest>`, "application/xml", 400, api.EBADREQUEST, "spec.gpu"},
			{"wrong type", flatBody("a1", func(m map[string]any) { m["duration_minutes"] = "sixty" }), "application/json", 400, api.EBADREQUEST, "duration_minutes"},
			{"syntax", `{"name":`, "application/json", 400, api.EBADREQUEST, ""},
			{"not an object", `[1,2]`, "application/json", 400, api.EBADREQUEST, ""},
			{"trailing data", flatBody("a1") + `{}`, "application/json", 400, api.EBADREQUEST, ""},
			{"empty", ``, "application/json", 400, api.EBADREQUEST, ""},
			{"bad xml", `<LabInstanceRequest><name>a1</LabInstanceRequest>`, "application/xml", 400, api.EBADREQUEST, ""},
			{"wrong xml root", `<Pod><name>a1</name></Pod>`, "application/xml", 400, api.EBADREQUEST, ""},
			{"duplicate json key", strings.Replace(flatBody("a1"), `"name":"a1"`, `"name":"a1","name":"a2"`, 1), "application/json", 400, api.EBADREQUEST, "name"},
			{"duplicate manifest key", `{"metadata":{"name":"a1","labels":{"k":"1","k":"2"}},"spec":{"lab_template":"python:3","student_email":"a@b.edu","duration_minutes":5}}`, "application/json", 400, api.EBADREQUEST, "metadata.labels[k]"},
			{"duplicate yaml key", "name: a1\nname: a2\nlab_template: python:3\nstudent_email: a@b.edu\nduration_minutes: 5\n", "application/yaml", 400, api.EBADREQUEST, ""},
			{"two yaml documents", "name: a1\nlab_template: python:3\nstudent_email: a@b.edu\nduration_minutes: 5\n---\nname: a2\n", "application/yaml", 400, api.EBADREQUEST, ""},
			{"duplicate xml element", `<LabInstanceRequest><name>a1</name><name>a2</name><lab_template>python:3</lab_template><student_email>a@b.edu</student_email><duration_minutes>5</duration_minutes></LabInstanceRequest>`, "application/xml", 400, api.EBADREQUEST, "name"},
			{"form post", "name=a1", "application/x-www-form-urlencoded", 415, api.EUNSUPPORTED, ""},
			{"text", "hello", "text/plain", 415, api.EUNSUPPORTED, ""},
		}
		for _, tc := range cases {
			p := e.do("POST", "/api/lab-instances/", tc.body, "Content-Type", tc.ct).problem(t, tc.status, tc.code)
			if tc.field != "" && !hasField(p, tc.field) {
				t.Errorf("%s: problem does not name %q: %+v", tc.name, tc.field, p)
			}
		}
		if n := len(e.do("GET", "/api/lab-instances/", "").want(t, http.StatusOK).list(t).Items); n != 0 {
			t.Fatalf("%d labs stored after bad bodies", n)
		}
	})
}

// TestManyFieldErrors: a body of thousands of unknown keys gets a bounded
// answer that says it left errors out.
func TestManyFieldErrors(t *testing.T) {
	t.Parallel()
	jsonBody := flatBody("many", func(m map[string]any) {
		for i := range 3000 {
			m[fmt.Sprintf("unknown_key_%04d", i)] = i
		}
	})
	var xmlBody strings.Builder
	xmlBody.WriteString("<LabInstanceRequest><name>many</name>")
	for i := range 3000 {
		fmt.Fprintf(&xmlBody, "<unknown_key_%04d/>", i)
	}
	xmlBody.WriteString("</LabInstanceRequest>")
	eachEnv(t, func(t *testing.T, e *env) {
		for _, tc := range []struct{ ct, body, detail string }{
			{"application/json", jsonBody, "the first 100"},
			{"application/xml", xmlBody.String(), "(and 2900 more field errors)"},
		} {
			r := e.do("POST", "/api/lab-instances/", tc.body, "Content-Type", tc.ct)
			p := r.problem(t, http.StatusBadRequest, api.EBADREQUEST)
			if len(p.Errors) != api.MaxProblemFields || p.Errors[0].Field != "unknown_key_0000" || !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("%s: %d field errors, first %+v, detail %.200q...%q", tc.ct, len(p.Errors), p.Errors[0], p.Detail, p.Detail[max(0, len(p.Detail)-60):])
			}
			if len(r.body) > len(tc.body) {
				t.Errorf("%s: the answer (%d bytes) is larger than the body (%d bytes)", tc.ct, len(r.body), len(tc.body))
			}
		}
		e.do("GET", "/api/lab-instances/many", "").problem(t, http.StatusNotFound, api.ENOTFOUND)
	})
}

// TestNoContentType: a body without a Content-Type is read as JSON.
func TestNoContentType(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *env) {
		l := e.do("POST", "/api/lab-instances/", flatBody("untyped"), "Content-Type", "").want(t, http.StatusCreated).lab(t)
		if l.Metadata.Name != "untyped" {
			t.Fatalf("created %+v", l.Metadata)
		}
		e.do("POST", "/api/lab-instances/", "name: yaml-untyped\n", "Content-Type", "").problem(t, http.StatusBadRequest, api.EBADREQUEST)
	})
}

func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *env) {
		big := flatBody("big", func(m map[string]any) {
			m["annotations"] = map[string]any{"blob": strings.Repeat("x", 2<<20)}
		})
		e.do("POST", "/api/lab-instances/", big).problem(t, http.StatusRequestEntityTooLarge, api.ETOOLARGE)
		// Without a Content-Length the limit holds while reading.
		r := e.doChunked("POST", "/api/lab-instances/", big)
		r.problem(t, http.StatusRequestEntityTooLarge, api.ETOOLARGE)
		e.do("GET", "/api/lab-instances/big", "").problem(t, http.StatusNotFound, api.ENOTFOUND)
	})
}

func TestDuplicate(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *env) {
		first := e.create("dup")
		p := e.do("POST", "/api/lab-instances/", flatBody("dup", func(m map[string]any) { m["duration_minutes"] = 5 })).
			problem(t, http.StatusConflict, api.EALREADYEXISTS)
		if !strings.Contains(p.Detail, "dup") {
			t.Fatalf("detail %q", p.Detail)
		}
		if got := e.get("dup"); got.Metadata.ResourceVersion != first.Metadata.ResourceVersion || got.Spec.DurationMinutes != 60 {
			t.Fatalf("duplicate create changed the lab: %+v", got)
		}
		// The same name in another namespace is another lab.
		e.do("POST", "/api/lab-instances/?namespace=other", flatBody("dup", func(m map[string]any) { delete(m, "namespace") })).want(t, http.StatusCreated)
	})
}
