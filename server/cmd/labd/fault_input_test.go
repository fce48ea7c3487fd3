package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// badCase is one malformed create: a change to a valid manifest, and the
// field the answer must name (a prefix: "metadata.labels" matches
// "metadata.labels[bad key]").
type badCase struct {
	name   string
	field  string
	change func(m map[string]any)
	// typed: the change gives a field a JSON type XML cannot express (in
	// XML every value is text); such cases run in JSON and YAML only.
	typed bool
}

func set(path string, v any) func(map[string]any) {
	return func(m map[string]any) {
		keys := strings.Split(path, ".")
		for _, k := range keys[:len(keys)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[k] = next
			}
			m = next
		}
		if v == nil {
			delete(m, keys[len(keys)-1])
			return
		}
		m[keys[len(keys)-1]] = v
	}
}

func many(n int, f func(i int) string) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

func badCases() []badCase {
	env65 := map[string]any{}
	for i := range 65 {
		env65[fmt.Sprintf("V%d", i)] = "x"
	}
	cs := []badCase{
		{"name missing", "metadata.name", set("metadata.name", nil), false},
		{"name upper case", "metadata.name", set("metadata.name", "Bad"), false},
		{"name underscore", "metadata.name", set("metadata.name", "a_b"), false},
		{"name too long", "metadata.name", set("metadata.name", strings.Repeat("a", 64)), false},
		{"name leading dash", "metadata.name", set("metadata.name", "-a"), false},
		{"name number", "metadata.name", set("metadata.name", 42), true},
		{"namespace spaces", "metadata.namespace", set("metadata.namespace", "a b"), false},
		{"namespace too long", "metadata.namespace", set("metadata.namespace", strings.Repeat("n", 64)), false},
		{"label key", "metadata.labels", set("metadata.labels", map[string]any{"bad key!": "v"}), false},
		{"label value", "metadata.labels", set("metadata.labels", map[string]any{"k": "bad value!"}), false},
		{"label value too long", "metadata.labels", set("metadata.labels", map[string]any{"k": strings.Repeat("v", 64)}), false},
		{"labels a list", "metadata.labels", set("metadata.labels", []any{"a"}), true},
		{"label a number", "metadata.labels", set("metadata.labels", map[string]any{"k": 1}), true},
		{"annotation key", "metadata.annotations", set("metadata.annotations", map[string]any{"/x": "v"}), false},
		{"finalizer", "metadata.finalizers", set("metadata.finalizers", []any{"Bad Finalizer"}), false},
		{"metadata unknown", "metadata.bogus", set("metadata.bogus", "x"), false},
		{"metadata a string", "metadata", set("metadata", "x"), true},
		{"unknown top level", "bogus", set("bogus", "x"), false},
		{"kind", "kind", set("kind", "Pod"), false},
		{"api version", "api_version", set("api_version", "lab.labrm.io/v2"), false},
		{"spec a list", "spec", set("spec", []any{1}), true},
		{"spec unknown", "spec.bogus", set("spec.bogus", 1), false},
		{"image missing", "spec.lab_template", set("spec.lab_template", nil), false},
		{"image upper case", "spec.lab_template", set("spec.lab_template", "Python:3"), false},
		{"image spaces", "spec.lab_template", set("spec.lab_template", "python 3"), false},
		{"image too long", "spec.lab_template", set("spec.lab_template", strings.Repeat("a", 500)), false},
		{"image bad digest", "spec.lab_template", set("spec.lab_template", "python@sha256:xyz"), false},
		{"image a number", "spec.lab_template", set("spec.lab_template", 7), true},
		{"email missing", "spec.student_email", set("spec.student_email", nil), false},
		{"email no at", "spec.student_email", set("spec.student_email", "student"), false},
		{"email display name", "spec.student_email", set("spec.student_email", "Ada <ada@u.edu>"), false},
		{"email too long", "spec.student_email", set("spec.student_email", strings.Repeat("a", 250)+"@u.edu"), false},
		{"duration zero", "spec.duration_minutes", set("spec.duration_minutes", 0), false},
		{"duration too long", "spec.duration_minutes", set("spec.duration_minutes", 481), false},
		{"duration negative", "spec.duration_minutes", set("spec.duration_minutes", -5), false},
		{"duration text", "spec.duration_minutes", set("spec.duration_minutes", "abc"), false},
		{"duration fraction", "spec.duration_minutes", set("spec.duration_minutes", 1.5), false},
		{"duration huge", "spec.duration_minutes", set("spec.duration_minutes", 1e20), false},
		{"duration bool", "spec.duration_minutes", set("spec.duration_minutes", true), true},
		{"start time words", "spec.scheduled_start_time", set("spec.scheduled_start_time", "tomorrow"), false},
		{"start time month 13", "spec.scheduled_start_time", set("spec.scheduled_start_time", "2026-13-01T00:00:00Z"), false},
		{"start time no zone", "spec.scheduled_start_time", set("spec.scheduled_start_time", "2026-01-01T00:00:00"), false},
		{"env name", "spec.environment", set("spec.environment", map[string]any{"1BAD": "x"}), false},
		{"env name dash", "spec.environment", set("spec.environment", map[string]any{"A-B": "x"}), false},
		{"env value too large", "spec.environment", set("spec.environment", map[string]any{"BIG": strings.Repeat("x", 40<<10)}), false},
		{"env too many", "spec.environment", set("spec.environment", env65), false},
		{"env value a number", "spec.environment", set("spec.environment", map[string]any{"A": 1}), true},
		{"cpu words", "spec.resource_limits.cpu", set("spec.resource_limits", map[string]any{"cpu": "lots", "memory": "64Mi"}), false},
		{"cpu zero", "spec.resource_limits.cpu", set("spec.resource_limits", map[string]any{"cpu": "0", "memory": "64Mi"}), false},
		{"cpu too many", "spec.resource_limits.cpu", set("spec.resource_limits", map[string]any{"cpu": "9", "memory": "64Mi"}), false},
		{"cpu negative", "spec.resource_limits.cpu", set("spec.resource_limits", map[string]any{"cpu": "-1", "memory": "64Mi"}), false},
		{"memory too much", "spec.resource_limits.memory", set("spec.resource_limits", map[string]any{"cpu": "1", "memory": "1Ti"}), false},
		{"memory too little", "spec.resource_limits.memory", set("spec.resource_limits", map[string]any{"cpu": "1", "memory": "5Mi"}), false},
		{"memory unit", "spec.resource_limits.memory", set("spec.resource_limits", map[string]any{"cpu": "1", "memory": "12XB"}), false},
		{"limits unknown", "spec.resource_limits.gpu", set("spec.resource_limits", map[string]any{"cpu": "1", "memory": "64Mi", "gpu": "1"}), false},
		{"request above limit", "spec.resource_requests.cpu", func(m map[string]any) {
			set("spec.resource_limits", map[string]any{"cpu": "1", "memory": "64Mi"})(m)
			set("spec.resource_requests", map[string]any{"cpu": "2", "memory": "32Mi"})(m)
		}, false},
		{"request memory words", "spec.resource_requests.memory", set("spec.resource_requests", map[string]any{"cpu": "10m", "memory": "much"}), false},
		{"mount relative", "spec.workspace.mount_path", set("spec.workspace", map[string]any{"mount_path": "home"}), false},
		{"mount proc", "spec.workspace.mount_path", set("spec.workspace", map[string]any{"mount_path": "/proc/x"}), false},
		{"mount dot dot", "spec.workspace.mount_path", set("spec.workspace", map[string]any{"mount_path": "/a/../b"}), false},
		{"mount root", "spec.workspace.mount_path", set("spec.workspace", map[string]any{"mount_path": "/"}), false},
		{"command empty", "spec.command[0]", set("spec.command", []any{""}), false},
		{"command too many", "spec.command", set("spec.command", many(65, func(int) string { return "x" })), false},
		{"args too long", "spec.args[0]", set("spec.args", []any{strings.Repeat("a", 5000)}), false},
		{"args a string", "spec.args", set("spec.args", "x"), true},
		{"port too high", "spec.port", set("spec.port", 70000), false},
		{"port negative", "spec.port", set("spec.port", -1), false},
		{"port words", "spec.port", set("spec.port", "http"), false},
		{"readiness no slash", "spec.readiness_path", set("spec.readiness_path", "healthz"), false},
		{"readiness space", "spec.readiness_path", set("spec.readiness_path", "/a b"), false},
		{"readiness fragment", "spec.readiness_path", set("spec.readiness_path", "/a#b"), false},
		{"idle negative", "spec.idle_timeout_minutes", set("spec.idle_timeout_minutes", -1), false},
		{"idle too long", "spec.idle_timeout_minutes", set("spec.idle_timeout_minutes", 1000), false},
		{"user negative", "spec.security_context.run_as_user", set("spec.security_context", map[string]any{"run_as_user": -1}), false},
		{"user too big", "spec.security_context.run_as_user", set("spec.security_context", map[string]any{"run_as_user": int64(1) << 40}), false},
		{"read-only words", "spec.security_context.read_only_root_filesystem", set("spec.security_context", map[string]any{"read_only_root_filesystem": "perhaps"}), false},
		{"security unknown", "spec.security_context.privileged", set("spec.security_context", map[string]any{"privileged": true}), false},
	}
	return cs
}

func validManifest() map[string]any {
	return map[string]any{
		"api_version": api.APIVersion, "kind": api.Kind,
		"metadata": map[string]any{"name": "bad-input", "namespace": "default", "labels": map[string]any{"course": "cs101"}},
		"spec": map[string]any{"lab_template": "labrm/busybox:test", "student_email": "s@u.edu", "duration_minutes": 30,
			"environment": map[string]any{"LAB_TYPE": "x"}, "resource_limits": map[string]any{"cpu": "100m", "memory": "64Mi"}},
	}
}

// xmlOf renders a manifest as the API's XML: maps of strings as <entry
// key="k">v</entry>, lists as repeated elements (finalizers>finalizer,
// command>arg, args>arg), other objects as nested elements.
func xmlOf(m map[string]any) string {
	var b strings.Builder
	b.WriteString("<LabInstanceRequest>")
	writeXML(&b, m, "")
	b.WriteString("</LabInstanceRequest>")
	return b.String()
}

func writeXML(b *strings.Builder, v any, parent string) {
	esc := func(s string) string {
		r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
		return r.Replace(s)
	}
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		entries := parent == "labels" || parent == "annotations" || parent == "environment"
		for _, k := range keys {
			if entries {
				fmt.Fprintf(b, `<entry key="%s">`, esc(k))
				writeXML(b, x[k], k)
				b.WriteString("</entry>")
				continue
			}
			fmt.Fprintf(b, "<%s>", k)
			writeXML(b, x[k], k)
			fmt.Fprintf(b, "</%s>", k)
		}
	case []any:
		item := map[string]string{"finalizers": "finalizer", "command": "arg", "args": "arg"}[parent]
		if item == "" {
			item = "item"
		}
		for _, e := range x {
			fmt.Fprintf(b, "<%s>", item)
			writeXML(b, e, item)
			fmt.Fprintf(b, "</%s>", item)
		}
	case float64:
		b.WriteString(strconv.FormatFloat(x, 'f', -1, 64))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case int:
		b.WriteString(strconv.Itoa(x))
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case string:
		b.WriteString(esc(x))
	}
}

// rawCase is a body no mutation of a valid manifest gives.
type rawCase struct {
	name, contentType, body string
	status                  int    // 0: any 4xx
	field                   string // "" when the error is the body's as a whole
}

func rawCases() []rawCase {
	valid, _ := json.Marshal(validManifest())
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	return []rawCase{
		{"json duplicate key", "application/json", `{"name":"a","name":"b","lab_template":"labrm/busybox:test","student_email":"s@u.edu","duration_minutes":5}`, 400, "name"},
		{"json duplicate nested key", "application/json", strings.Replace(string(valid), `"duration_minutes":30`, `"duration_minutes":30,"duration_minutes":31`, 1), 400, "spec.duration_minutes"},
		{"yaml duplicate key", "application/yaml", "name: a\nname: b\nlab_template: labrm/busybox:test\nstudent_email: s@u.edu\nduration_minutes: 5\n", 400, "name"},
		{"xml repeated element", "application/xml", "<LabInstanceRequest><metadata><name>a</name><name>b</name></metadata></LabInstanceRequest>", 400, "metadata.name"},
		{"yaml two documents", "application/yaml", "name: a\n---\nname: b\n", 400, ""},
		{"json truncated", "application/json", string(valid[:len(valid)/2]), 400, ""},
		{"json trailing garbage", "application/json", string(valid) + "x", 400, ""},
		{"json two objects", "application/json", string(valid) + string(valid), 400, ""},
		{"json array", "application/json", "[1,2]", 400, ""},
		{"json null", "application/json", "null", 0, ""},
		{"json string", "application/json", `"lab"`, 400, ""},
		{"json deep nesting", "application/json", deep, 0, ""},
		{"empty body", "application/json", "", 0, ""},
		{"yaml not yaml", "application/yaml", "name: [unclosed\n", 400, ""},
		{"yaml alias bomb", "application/yaml", "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n", 0, ""},
		{"xml not xml", "application/xml", "<LabInstanceRequest><metadata>", 400, ""},
		{"xml entity bomb", "application/xml", `<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><LabInstanceRequest><metadata><name>&b;</name></metadata></LabInstanceRequest>`, 400, ""},
		{"xml wrong root", "application/xml", "<Pod><metadata><name>a</name></metadata></Pod>", 400, ""},
		{"not utf-8", "application/json", "{\"name\":\"\xff\xfe\",\"lab_template\":\"labrm/busybox:test\",\"student_email\":\"s@u.edu\",\"duration_minutes\":5}", 0, ""},
		{"unsupported type", "text/plain", string(valid), 415, ""},
		{"form body", "application/x-www-form-urlencoded", "name=a", 415, ""},
		{"too large", "application/json", `{"name":"a","environment":{"A":"` + strings.Repeat("x", 2<<20) + `"}}`, 413, ""},
		{"flat and manifest mixed", "application/json", `{"name":"a","spec":{}}`, 400, ""},
		{"flat unknown field", "application/json", `{"name":"a","lab_template":"labrm/busybox:test","student_email":"s@u.edu","duration_minutes":5,"bogus":1}`, 400, "bogus"},
		{"flat bad name", "application/json", `{"name":"A","lab_template":"labrm/busybox:test","student_email":"s@u.edu","duration_minutes":5}`, 422, "name"},
	}
}

// TestFaultBadInput sends every bad case in JSON, YAML and XML (about 250
// requests) to a labd on PostgreSQL: each is a 4xx RFC 7807 problem that
// names the field at fault (or, for a body that cannot be read at all,
// says why), none is a 5xx, none takes more than a few seconds, and
// nothing is stored — not a lab, not an outbox event.
func TestFaultBadInput(t *testing.T) {
	t.Parallel()
	dbURL := servertest.PostgresURL(t)
	p := startLabd(t, "bad-input", dbURL, "--controller=false")
	url := "http://" + p.addr + "/api/lab-instances/"

	type exchange struct {
		what, field string
		status      int
		r           reply
		took        time.Duration
	}
	var jobs []func() exchange
	for _, c := range badCases() {
		for _, format := range []string{"json", "yaml", "xml"} {
			if c.typed && format == "xml" {
				continue
			}
			m := validManifest()
			c.change(m)
			var body, ct string
			switch format {
			case "json":
				b, _ := json.Marshal(m)
				body, ct = string(b), "application/json"
			case "yaml":
				b, err := yaml.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				body, ct = string(b), "application/yaml"
			case "xml":
				body, ct = xmlOf(m), "application/xml"
			}
			jobs = append(jobs, func() exchange {
				start := time.Now()
				r := rawDo("POST", url, ct, body)
				return exchange{what: c.name + " (" + format + ")", field: c.field, r: r, took: time.Since(start)}
			})
		}
	}
	for _, c := range rawCases() {
		jobs = append(jobs, func() exchange {
			start := time.Now()
			r := rawDo("POST", url, c.contentType, c.body)
			return exchange{what: c.name, field: c.field, status: c.status, r: r, took: time.Since(start)}
		})
	}

	results := make([]exchange, len(jobs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, job := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = job()
		}()
	}
	wg.Wait()
	for _, x := range results {
		r := x.r
		switch {
		case r.err != nil:
			t.Errorf("%s: %v", x.what, r.err)
			continue
		case r.status < 400 || r.status >= 500 || (x.status != 0 && r.status != x.status):
			t.Errorf("%s: status %d (want 4xx%s): %s", x.what, r.status, map[bool]string{true: fmt.Sprintf(", %d", x.status)}[x.status != 0], r.body)
			continue
		case x.took > 5*time.Second:
			t.Errorf("%s: took %s", x.what, x.took)
		case r.header.Get("Content-Type") != "application/problem+json":
			t.Errorf("%s: Content-Type %q", x.what, r.header.Get("Content-Type"))
			continue
		}
		pr := r.problem(t)
		if pr.Status != r.status || pr.Code == "" || pr.Detail == "" {
			t.Errorf("%s: problem %+v", x.what, pr)
		}
		if x.field != "" && !slices.ContainsFunc(pr.Errors, func(f api.FieldError) bool { return strings.HasPrefix(f.Field, x.field) }) {
			t.Errorf("%s: the problem does not name %s: %s", x.what, x.field, r.body)
		}
	}
	t.Logf("%d bad requests, every one a 4xx problem", len(results))

	// Nothing stored.
	if r := rawDo("GET", url, "", ""); r.status != http.StatusOK || !strings.Contains(string(r.body), `"items":[]`) {
		t.Fatalf("labs after the bad input: %d %s", r.status, r.body)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{URL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, current, err := db.EventBounds(ctx); err != nil || current != 0 {
		t.Fatalf("outbox after the bad input: up to %d, %v", current, err)
	}
	// The same body, made valid, is accepted: the table's bodies were bad
	// only where they were changed.
	b, _ := json.Marshal(validManifest())
	if r := rawDo("POST", url, "application/json", string(b)); r.status != http.StatusCreated {
		t.Fatalf("the valid manifest: %d %s", r.status, r.body)
	}
	y, _ := yaml.Marshal(validManifest())
	if r := rawDo("POST", url+"?namespace=yaml", "application/yaml", strings.Replace(string(y), "namespace: default", "namespace: yaml", 1)); r.status != http.StatusCreated {
		t.Fatalf("the valid manifest in YAML: %d %s", r.status, r.body)
	}
	if r := rawDo("POST", url+"?namespace=xml", "application/xml", strings.Replace(xmlOf(validManifest()), "<namespace>default</namespace>", "<namespace>xml</namespace>", 1)); r.status != http.StatusCreated {
		t.Fatalf("the valid manifest in XML: %d %s", r.status, r.body)
	}
}
