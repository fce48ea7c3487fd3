package httpapi_test

import (
	"encoding/xml"
	"net/http"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

func TestYAML(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *env) {
		body := `
api_version: lab.labrm.io/v1
kind: LabInstanceRequest
metadata:
  name: yaml-lab
  labels:
    course: cs101
spec:
  lab_template: python:3.9-alpine
  student_email: student@university.edu
  duration_minutes: 45
  environment:
    LAB_TYPE: python-basics
`
		r := e.do("POST", "/api/lab-instances/", body, "Content-Type", "application/yaml", "Accept", "application/yaml").want(t, http.StatusCreated)
		if ct := r.header.Get("Content-Type"); ct != "application/yaml" {
			t.Fatalf("Content-Type %q", ct)
		}
		var l api.LabInstanceRequest
		if err := yaml.Unmarshal(r.body, &l); err != nil {
			t.Fatalf("decode YAML: %v\n%s", err, r.body)
		}
		if l.Metadata.Name != "yaml-lab" || l.Spec.DurationMinutes != 45 || l.Metadata.Labels["course"] != "cs101" || l.Status.Phase != api.PhasePending {
			t.Fatalf("YAML round trip: %+v", l)
		}
		if !strings.Contains(string(r.body), "lab_template: python:3.9-alpine") {
			t.Fatalf("YAML is not snake_case:\n%s", r.body)
		}
		// text/yaml is answered as such; a YAML problem follows Accept.
		r = e.do("GET", "/api/lab-instances/yaml-lab", "", "Accept", "text/yaml").want(t, http.StatusOK)
		if ct := r.header.Get("Content-Type"); ct != "text/yaml; charset=utf-8" {
			t.Fatalf("Content-Type %q", ct)
		}
		r = e.do("GET", "/api/lab-instances/missing", "", "Accept", "application/yaml").want(t, http.StatusNotFound)
		var p api.Problem
		if err := yaml.Unmarshal(r.body, &p); err != nil || p.Code != api.ENOTFOUND {
			t.Fatalf("YAML problem %v: %s", err, r.body)
		}
		// A YAML list.
		r = e.do("GET", "/api/lab-instances/", "", "Accept", "application/x-yaml").want(t, http.StatusOK)
		var list api.LabInstanceRequestList
		if err := yaml.Unmarshal(r.body, &list); err != nil || len(list.Items) != 1 || list.Kind != api.ListKind {
			t.Fatalf("YAML list %v: %s", err, r.body)
		}
	})
}

// TestXMLRoundTrip reads a lab as XML and writes that same document back
// with a change: the XML form carries everything a replace needs.
func TestXMLRoundTrip(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *env) {
		body := `<?xml version="1.0" encoding="UTF-8"?>
<LabInstanceRequest>
  <name>xml-lab</name>
  <lab_template>python:3.9-alpine</lab_template>
  <student_email>student@university.edu</student_email>
  <duration_minutes>60</duration_minutes>
  <environment><entry key="LAB_TYPE">python-basics</entry></environment>
  <labels><entry key="team">red</entry></labels>
</LabInstanceRequest>`
		r := e.do("POST", "/api/lab-instances/", body, "Content-Type", "application/xml", "Accept", "application/xml").want(t, http.StatusCreated)
		if ct := r.header.Get("Content-Type"); ct != "application/xml" {
			t.Fatalf("Content-Type %q", ct)
		}
		var created api.LabInstanceRequest
		if err := xml.Unmarshal(r.body, &created); err != nil {
			t.Fatalf("decode XML: %v\n%s", err, r.body)
		}
		if created.Metadata.Name != "xml-lab" || created.Spec.Environment["LAB_TYPE"] != "python-basics" || created.Metadata.Labels["team"] != "red" {
			t.Fatalf("XML create: %+v", created)
		}

		got := e.do("GET", "/api/lab-instances/xml-lab", "", "Accept", "text/xml").want(t, http.StatusOK)
		doc := string(got.body)
		for _, want := range []string{"<LabInstanceRequest>", "<api_version>lab.labrm.io/v1</api_version>", `<entry key="LAB_TYPE">python-basics</entry>`, "<phase>PENDING</phase>", "<resource_version>"} {
			if !strings.Contains(doc, want) {
				t.Fatalf("XML lacks %s:\n%s", want, doc)
			}
		}
		// PUT the document back with a longer duration and one more label.
		doc = strings.Replace(doc, "<duration_minutes>60</duration_minutes>", "<duration_minutes>90</duration_minutes>", 1)
		doc = strings.Replace(doc, `<entry key="team">red</entry>`, `<entry key="team">red</entry><entry key="week">3</entry>`, 1)
		r = e.do("PUT", "/api/lab-instances/xml-lab", doc, "Content-Type", "text/xml", "Accept", "application/xml").want(t, http.StatusOK)
		var updated api.LabInstanceRequest
		if err := xml.Unmarshal(r.body, &updated); err != nil {
			t.Fatalf("decode XML: %v\n%s", err, r.body)
		}
		if updated.Spec.DurationMinutes != 90 || updated.Metadata.Labels["week"] != "3" || updated.Metadata.Generation != 2 {
			t.Fatalf("XML replace: %+v", updated)
		}
		// The document still names the old version: a second PUT is stale.
		e.do("PUT", "/api/lab-instances/xml-lab", doc, "Content-Type", "application/xml").problem(t, http.StatusConflict, api.ECONFLICT)

		// An XML problem, in RFC 7807's XML form.
		r = e.do("GET", "/api/lab-instances/missing", "", "Accept", "application/xml").want(t, http.StatusNotFound)
		if ct := r.header.Get("Content-Type"); ct != "application/problem+xml" || !strings.Contains(string(r.body), `<problem xmlns="urn:ietf:rfc:7807">`) {
			t.Fatalf("XML problem %q: %s", ct, r.body)
		}
	})
}

func TestNegotiation(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *env) {
		e.create("neg")
		cases := []struct{ accept, want string }{
			{"", "application/json"},
			{"*/*", "application/json"},
			{"application/*", "application/json"},
			{"application/xml;q=0.5, application/yaml", "application/yaml"},
			{"application/json;q=0.1, text/xml", "text/xml; charset=utf-8"},
			{"text/html, application/xml;q=0.9, */*;q=0.8", "application/xml"},
			{"application/json, application/yaml", "application/json"},
		}
		for _, tc := range cases {
			r := e.do("GET", "/api/lab-instances/neg", "", "Accept", tc.accept).want(t, http.StatusOK)
			if ct := r.header.Get("Content-Type"); ct != tc.want {
				t.Errorf("Accept %q: Content-Type %q, want %q", tc.accept, ct, tc.want)
			}
		}
		for _, accept := range []string{"text/html", "application/json;q=0, */*;q=0", "image/png"} {
			e.do("GET", "/api/lab-instances/neg", "", "Accept", accept).problem(t, http.StatusNotAcceptable, api.ENOTACCEPTABLE)
		}
		// 406 comes before any work: the create is not made.
		e.do("POST", "/api/lab-instances/", flatBody("not-made"), "Accept", "text/html").problem(t, http.StatusNotAcceptable, api.ENOTACCEPTABLE)
		e.do("GET", "/api/lab-instances/not-made", "").problem(t, http.StatusNotFound, api.ENOTFOUND)
	})
}
