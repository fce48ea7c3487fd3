package httpapi_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/httpapi"
	"github.com/labrm/terraform-provider-lab/server/images"
	"github.com/labrm/terraform-provider-lab/server/servertest"
)

// TestResourceVersionParam: a list's or watch's resource_version must be a
// non-negative integer this server issued; anything else is 400 naming
// it, never silently ignored nor an empty stream.
func TestResourceVersionParam(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *env) {
		l := e.create("one")
		list := e.do("GET", "/api/lab-instances/", "").want(t, http.StatusOK).list(t)
		for _, q := range []string{"resource_version=abc", "resource_version=-1", "resource_version=1.5", "resource_version=" + strconv.FormatInt(list.Metadata.ResourceVersion+1_000_000, 10)} {
			for _, watch := range []string{"", "&watch=true"} {
				start := time.Now()
				p := e.do("GET", "/api/lab-instances/?"+q+watch, "").problem(t, http.StatusBadRequest, api.EBADREQUEST)
				wantField(t, p, "resource_version")
				if time.Since(start) > 5*time.Second {
					t.Fatalf("%s%s took %s", q, watch, time.Since(start))
				}
			}
		}
		if p := e.do("GET", "/api/lab-instances/?watch=true&resource_version=99999999999", "").problem(t, http.StatusBadRequest, api.EBADREQUEST); !strings.Contains(p.Errors[0].Message, "newer than any version") {
			t.Fatalf("future version: %+v", p)
		}
		// Versions it did issue are fine: the list's and the object's.
		for _, rv := range []int64{list.Metadata.ResourceVersion, l.Metadata.ResourceVersion} {
			e.do("GET", "/api/lab-instances/?resource_version="+strconv.FormatInt(rv, 10), "").want(t, http.StatusOK)
			w := e.watch("&resource_version=" + strconv.FormatInt(rv, 10) + "&timeout_seconds=1")
			if w.resp.StatusCode != http.StatusOK {
				t.Fatalf("watch from %d: %d", rv, w.resp.StatusCode)
			}
		}
	})
}

// TestHead: HEAD answers wherever GET does, with GET's status and headers
// and no body; a HEAD watch answers its headers and ends.
func TestHead(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *env) {
		l := e.create("headed")
		for _, path := range []string{
			"/api/lab-instances/", "/api/lab-instances", "/api/lab-instances/headed", "/api/lab-instances/headed/events",
			"/api/lab-instances/nope", "/api/lab-instances/?phase=nope",
			"/api/status/health", "/api/status/ready", "/api/status/status", "/api/status/leader", "/api/status/bookmarks",
			"/api/status/finalizers", "/openapi.json", "/openapi.yaml", "/docs",
		} {
			get := e.do("GET", path, "")
			head := e.do("HEAD", path, "")
			if head.status != get.status || len(head.body) != 0 {
				t.Errorf("HEAD %s: %d with %d bytes; GET %d", path, head.status, len(head.body), get.status)
			}
			if head.header.Get("Content-Type") != get.header.Get("Content-Type") {
				t.Errorf("HEAD %s: Content-Type %q, GET %q", path, head.header.Get("Content-Type"), get.header.Get("Content-Type"))
			}
		}
		if h := e.do("HEAD", "/api/lab-instances/headed", ""); h.header.Get("ETag") != etagOf(l.Metadata.ResourceVersion) {
			t.Fatalf("HEAD ETag %q", h.header.Get("ETag"))
		}
		start := time.Now()
		h := e.do("HEAD", "/api/lab-instances/?watch=true", "").want(t, http.StatusOK)
		if time.Since(start) > 5*time.Second || h.header.Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("HEAD watch: %s, %v", time.Since(start), h.header)
		}
		e.do("HEAD", "/api/lab-instances/?watch=true&resource_version=x", "").want(t, http.StatusBadRequest)
	})
}

// TestStudentEmailCaseInsensitive: student_email matches the same way,
// case-insensitively, in a list (from the store's index) and in a watch.
func TestStudentEmailCaseInsensitive(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *env) {
		e.create("mixed", func(m map[string]any) { m["student_email"] = "Ada.Lovelace@University.edu" })
		e.create("other", func(m map[string]any) { m["student_email"] = "someone@university.edu" })
		for _, q := range []string{"ada.lovelace@university.edu", "ADA.LOVELACE@UNIVERSITY.EDU", "Ada.Lovelace@University.edu"} {
			list := e.do("GET", "/api/lab-instances/?student_email="+q, "").want(t, http.StatusOK).list(t)
			if len(list.Items) != 1 || list.Items[0].Metadata.Name != "mixed" {
				t.Fatalf("list for %s: %d items", q, len(list.Items))
			}
			w := e.watch("&student_email=" + q)
			if ev := w.next(); ev.Type != api.WatchAdded || ev.Object.Metadata.Name != "mixed" {
				t.Fatalf("watch for %s: %+v", q, ev)
			}
		}
		w := e.watch("&student_email=ADA.lovelace@university.EDU&resource_version=" + strconv.FormatInt(e.get("other").Metadata.ResourceVersion, 10))
		e.do("POST", "/api/lab-instances/mixed/start", "")
		e.create("third", func(m map[string]any) { m["student_email"] = "ada.LOVELACE@university.edu" })
		for {
			ev := w.next()
			if ev.Object.Metadata.Name == "other" {
				t.Fatal("watch matched another student")
			}
			if ev.Object.Metadata.Name == "third" {
				break
			}
		}
	})
}

// TestAllowedImages: with --allowed-images, a create of any other image is
// 422 naming the image field, in the flat and manifest forms and every
// format, and nothing is stored; allowed images are created; a replace
// cannot change the image at all.
func TestAllowedImages(t *testing.T) {
	t.Parallel()
	policy, err := images.ParsePolicy([]string{"registry.example.edu/labs/*", "python:*"})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, servertest.OpenStore(t, servertest.SQLite), func(c *httpapi.Config) { c.Images = policy })
	for _, img := range []string{"evil.example/python:3.12", "registry.example.edu/labs/x/y:1", "ubuntu:24.04", "python@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"} {
		p := e.do("POST", "/api/lab-instances/", flatBody("refused", func(m map[string]any) { m["lab_template"] = img })).problem(t, http.StatusUnprocessableEntity, api.EINVALID)
		wantField(t, p, "lab_template")
		if !strings.Contains(p.Errors[0].Message, "not allowed") {
			t.Fatalf("%s: %+v", img, p)
		}
		manifest := `{"api_version":"lab.labrm.io/v1","kind":"LabInstanceRequest","metadata":{"name":"refused"},"spec":{"lab_template":"` + img + `","student_email":"s@u.edu","duration_minutes":5}}`
		wantField(t, e.do("POST", "/api/lab-instances/", manifest).problem(t, http.StatusUnprocessableEntity, api.EINVALID), "spec.lab_template")
		yaml := "api_version: lab.labrm.io/v1\nkind: LabInstanceRequest\nmetadata: {name: refused}\nspec: {lab_template: \"" + img + "\", student_email: s@u.edu, duration_minutes: 5}\n"
		wantField(t, e.do("POST", "/api/lab-instances/", yaml, "Content-Type", "application/yaml").problem(t, http.StatusUnprocessableEntity, api.EINVALID), "spec.lab_template")
	}
	if list := e.do("GET", "/api/lab-instances/", "").want(t, http.StatusOK).list(t); len(list.Items) != 0 {
		t.Fatalf("refused labs were stored: %d", len(list.Items))
	}
	e.create("py", func(m map[string]any) { m["lab_template"] = "python:3.12" })
	l := e.create("ours", func(m map[string]any) { m["lab_template"] = "registry.example.edu/labs/java:21" })
	l.Spec.LabTemplate = "evil.example/java:21"
	p := e.do("PUT", "/api/lab-instances/ours", mustJSON(l)).problem(t, http.StatusUnprocessableEntity, api.EINVALID)
	wantField(t, p, "spec.lab_template")
}
