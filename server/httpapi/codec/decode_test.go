package codec

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// decode runs a body through NewBody and Decode, as httpapi does.
func decode(f Format, body string, v any) error {
	b, err := NewBody(f, []byte(body))
	if err != nil {
		return err
	}
	return b.Decode(v)
}

// fields lists the fields a 400 names.
func fields(err error) []string {
	e, ok := err.(*api.Error)
	if !ok {
		return nil
	}
	var out []string
	for _, f := range e.Fields {
		out = append(out, f.Field+": "+f.Message)
	}
	return out
}

const validJSON = `{"metadata":{"name":"a1","labels":{"team":"red"}},"spec":{"lab_template":"python:3","student_email":"a@b.edu","duration_minutes":5}}`

const validYAML = `
metadata:
  name: a1
  labels:
    team: red
spec:
  lab_template: python:3
  student_email: a@b.edu
  duration_minutes: 5
`

const validXML = `<?xml version="1.0"?>
<LabInstanceRequest><metadata><name>a1</name><labels><entry key="team">red</entry></labels></metadata>` +
	`<spec><lab_template>python:3</lab_template><student_email>a@b.edu</student_email><duration_minutes>5</duration_minutes></spec></LabInstanceRequest>`

func TestDecodeValid(t *testing.T) {
	t.Parallel()
	for f, body := range map[Format]string{JSON: validJSON, YAML: validYAML, XML: validXML} {
		var l api.LabInstanceRequest
		if err := decode(f, body, &l); err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		if l.Metadata.Name != "a1" || l.Metadata.Labels["team"] != "red" || l.Spec.DurationMinutes != 5 || l.Spec.StudentEmail != "a@b.edu" {
			t.Errorf("%v: decoded %+v", f, l)
		}
	}
}

// TestDecodeStrict holds every format to the same rules: each bad body is a
// 400, naming each field at fault by its path when there is one.
func TestDecodeStrict(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		f      Format
		body   string
		fields []string // "path: message" of each field error, in order; nil = none expected
		detail string   // in the message
	}{
		// Unknown fields.
		{"json unknown", JSON, `{"metadata":{"name":"a"},"spec":{"gpu":1},"colour":"red"}`, []string{"spec.gpu: unknown field", "colour: unknown field"}, "unknown fields"},
		{"json case-sensitive", JSON, `{"Metadata":{"name":"a"},"spec":{"Lab_Template":"x"}}`, []string{"Metadata: unknown field", "spec.Lab_Template: unknown field"}, ""},
		{"json unknown in a list", JSON, `{"status":{"conditions":[{"type":"Ready"},{"type":"x","foo":1}]}}`, []string{"status.conditions[1].foo: unknown field"}, ""},
		{"yaml unknown", YAML, "metadata:\n  name: a\nspec:\n  gpu: 1\nsize: big\n", []string{"size: unknown field", "spec.gpu: unknown field"}, ""}, // YAML keys come sorted
		{"xml unknown", XML, `<LabInstanceRequest><spec><gpu>1</gpu></spec><colour/></LabInstanceRequest>`, []string{"spec.gpu: unknown field", "colour: unknown field"}, ""},
		// Duplicate fields.
		{"json duplicate", JSON, `{"metadata":{"name":"a","name":"b"}}`, []string{"metadata.name: duplicate field"}, "duplicate fields"},
		{"json duplicate map key", JSON, `{"metadata":{"labels":{"app.kubernetes.io/name":"a","app.kubernetes.io/name":"b"}}}`, []string{"metadata.labels[app.kubernetes.io/name]: duplicate field"}, ""},
		{"json duplicate and unknown", JSON, `{"spec":{"x":1,"duration_minutes":1,"duration_minutes":2}}`, []string{"spec.x: unknown field", "spec.duration_minutes: duplicate field"}, "unknown and duplicate fields"},
		{"yaml duplicate", YAML, "metadata:\n  name: a\n  name: b\n", []string{"metadata.name: duplicate field"}, "duplicate fields"},
		{"yaml duplicate map key", YAML, "metadata:\n  labels:\n    a: x\n    a: z\n", []string{"metadata.labels[a]: duplicate field"}, ""},
		{"xml not a number", XML, `<LabInstanceRequest><spec><duration_minutes>abc</duration_minutes><port>1.5</port></spec></LabInstanceRequest>`, []string{"spec.duration_minutes: must be an integer, not \"abc\"", "spec.port: must be an integer, not \"1.5\""}, ""},
		{"xml not a boolean", XML, `<LabInstanceRequest><spec><security_context><read_only_root_filesystem>perhaps</read_only_root_filesystem></security_context></spec></LabInstanceRequest>`, []string{"spec.security_context.read_only_root_filesystem: must be a boolean, not \"perhaps\""}, ""},
		{"xml duplicate", XML, `<LabInstanceRequest><metadata><name>a</name><name>b</name></metadata></LabInstanceRequest>`, []string{"metadata.name: duplicate field"}, "duplicate fields"},
		{"xml duplicate map key", XML, `<LabInstanceRequest><metadata><labels><entry key="k">a</entry><entry key="k">b</entry></labels></metadata></LabInstanceRequest>`, []string{"metadata.labels[k]: duplicate field"}, ""},
		// Shape of the document.
		{"yaml two documents", YAML, "metadata:\n  name: a\n---\nmetadata:\n  name: b\n", nil, "several documents"},
		{"json two values", JSON, validJSON + `{}`, nil, "invalid JSON"},
		{"json array", JSON, `[1,2]`, nil, "must be an object, not array"},
		{"json null", JSON, `null`, nil, "must be an object"},
		{"yaml scalar", YAML, `just text`, nil, "must be an object"},
		{"json syntax", JSON, `{"metadata":`, nil, "invalid JSON at byte"},
		{"yaml syntax", YAML, "metadata: [\n", nil, "invalid YAML"},
		{"xml syntax", XML, `<LabInstanceRequest><name>a1</LabInstanceRequest>`, nil, "invalid XML"},
		{"xml wrong root", XML, `<Pod><name>a1</name></Pod>`, nil, "must be <LabInstanceRequest>, not <Pod>"},
		{"xml two roots", XML, validXML + `<LabInstanceRequest/>`, nil, "second root"},
		{"xml text after the root", XML, validXML + `tail`, nil, "text after"},
		// Types.
		{"json wrong type", JSON, `{"spec":{"duration_minutes":"sixty"}}`, []string{"spec.duration_minutes: must be an integer, not string"}, ""},
		{"json wrong type in a map", JSON, `{"spec":{"environment":{"A":1}}}`, []string{"spec.environment: must be a string, not number"}, ""},
		{"yaml wrong type", YAML, "spec:\n  duration_minutes: [1]\n", []string{"spec.duration_minutes: must be an integer, not array"}, ""},
		{"json bad time", JSON, `{"metadata":{"creation_timestamp":"yesterday"}}`, nil, "cannot decode body"},
		{"xml wrong type", XML, `<LabInstanceRequest><spec><duration_minutes>sixty</duration_minutes></spec></LabInstanceRequest>`, []string{"spec.duration_minutes: must be an integer, not \"sixty\""}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := decode(tc.f, tc.body, &api.LabInstanceRequest{})
			if api.ErrorCode(err) != api.EBADREQUEST {
				t.Fatalf("err = %v, want a 400", err)
			}
			if got := fields(err); !slices.Equal(got, tc.fields) {
				t.Errorf("fields %q, want %q", got, tc.fields)
			}
			if !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("message %q lacks %q", err.Error(), tc.detail)
			}
		})
	}
}

// TestDecodeYAMLDocuments: a stream of one document, however it is
// delimited, is one document.
func TestDecodeYAMLDocuments(t *testing.T) {
	t.Parallel()
	for _, body := range []string{"---\n" + validYAML, validYAML + "---\n", validYAML + "...\n", "# comment\n---\n" + validYAML + "---\n# end\n"} {
		var l api.LabInstanceRequest
		if err := decode(YAML, body, &l); err != nil || l.Metadata.Name != "a1" {
			t.Errorf("%q: %v %+v", body, err, l.Metadata)
		}
	}
	// A "---" inside a block scalar is text, not a separator.
	var l api.LabInstanceRequest
	if err := decode(YAML, "metadata:\n  annotations:\n    note: |\n      ---\n      x\n", &l); err != nil || l.Metadata.Annotations["note"] != "---\nx\n" {
		t.Errorf("block scalar: %v %q", err, l.Metadata.Annotations["note"])
	}
}

func TestDecodeXMLStrict(t *testing.T) {
	t.Parallel()
	ok := `<LabInstanceRequest><metadata><name>x</name><finalizers><finalizer>a.b/c</finalizer><finalizer>d.e/f</finalizer></finalizers>` +
		`<labels><entry key="k">v</entry></labels></metadata><spec><duration_minutes>5</duration_minutes></spec>` +
		`<status><conditions><condition><type>Ready</type></condition><condition><type>Scheduled</type></condition></conditions></status></LabInstanceRequest>`
	var l api.LabInstanceRequest
	if err := decodeXML([]byte(ok), &l); err != nil {
		t.Fatalf("valid XML rejected: %v", err)
	}
	if l.Metadata.Finalizers[1] != "d.e/f" || l.Metadata.Labels["k"] != "v" || l.Status.Conditions[1].Type != "Scheduled" {
		t.Fatalf("decoded %+v", l)
	}
	bad := map[string]string{
		`<LabInstanceRequest><metadata><finalizers><item>x</item></finalizers></metadata></LabInstanceRequest>`:   "metadata.finalizers.item",
		`<LabInstanceRequest><metadata><labels><label key="a">b</label></labels></metadata></LabInstanceRequest>`: "metadata.labels.label",
		`<LabInstanceRequest><spec><duration_minutes><x/></duration_minutes></spec></LabInstanceRequest>`:         "spec.duration_minutes.x",
		`<LabInstanceRequest><extra/></LabInstanceRequest>`:                                                       "extra",
		`<LabInstanceRequest><spec/><spec/></LabInstanceRequest>`:                                                 "spec",
	}
	for doc, field := range bad {
		err := decodeXML([]byte(doc), &api.LabInstanceRequest{})
		ae, isAPI := err.(*api.Error)
		if !isAPI || ae.Code != api.EBADREQUEST || len(ae.Fields) != 1 || ae.Fields[0].Field != field {
			t.Errorf("%s: got %v, want 400 naming %s", doc, err, field)
		}
	}
	if err := decodeXML([]byte(ok+`<LabInstanceRequest/>`), &api.LabInstanceRequest{}); api.ErrorCode(err) != api.EBADREQUEST {
		t.Errorf("two roots: %v", err)
	}
}

func TestFields(t *testing.T) {
	t.Parallel()
	want := []string{"metadata", "spec"}
	for f, body := range map[Format]string{JSON: validJSON, YAML: validYAML, XML: validXML} {
		b, err := NewBody(f, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.Fields()
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%v: %v, %v; want %v", f, got, err, want)
		}
	}
	// Top-level duplicates are reported already here.
	b, _ := NewBody(JSON, []byte(`{"name":"a","name":"b"}`))
	if _, err := b.Fields(); !slices.Equal(fields(err), []string{"name: duplicate field"}) {
		t.Errorf("duplicate: %v", err)
	}
	b, _ = NewBody(JSON, []byte(`[1]`))
	if _, err := b.Fields(); api.ErrorCode(err) != api.EBADREQUEST {
		t.Errorf("array: %v", err)
	}
}

func TestDecodeMergePatch(t *testing.T) {
	t.Parallel()
	b, err := NewBody(YAML, []byte("metadata:\n  labels:\n    team: null\n    week: \"2\"\n  resource_version: 42\nspec:\n  resource_limits: null\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.MergePatch(&api.LabInstanceRequest{})
	if err != nil {
		t.Fatal(err)
	}
	meta := p["metadata"].(map[string]any)
	labels := meta["labels"].(map[string]any)
	if v, ok := labels["team"]; !ok || v != nil || labels["week"] != "2" || meta["resource_version"] != int64(42) {
		t.Errorf("patch %#v", p)
	}
	if v, ok := p["spec"].(map[string]any)["resource_limits"]; !ok || v != nil {
		t.Errorf("null lost: %#v", p["spec"])
	}
	cases := []struct {
		f      Format
		body   string
		code   string
		fields []string
	}{
		{JSON, `{"spec":{"gpus":2}}`, api.EBADREQUEST, []string{"spec.gpus: unknown field"}},
		{JSON, `{"spec":{"duration_minutes":"long"}}`, api.EBADREQUEST, []string{"spec.duration_minutes: must be an integer, not string"}},
		{JSON, `{"metadata":{"resource_version":"abc"}}`, api.EBADREQUEST, []string{"metadata.resource_version: must be an integer, not string"}},
		{JSON, `{"spec":{},"spec":{}}`, api.EBADREQUEST, []string{"spec: duplicate field"}},
		{JSON, `["x"]`, api.EBADREQUEST, nil},
		{JSON, `null`, api.EBADREQUEST, nil},
		{XML, `<LabInstanceRequest/>`, api.EUNSUPPORTED, nil},
	}
	for _, tc := range cases {
		b, err := NewBody(tc.f, []byte(tc.body))
		if err == nil {
			_, err = b.MergePatch(&api.LabInstanceRequest{})
		}
		if api.ErrorCode(err) != tc.code || !slices.Equal(fields(err), tc.fields) {
			t.Errorf("%s: %v (fields %q), want %s naming %q", tc.body, err, fields(err), tc.code, tc.fields)
		}
	}
}

func TestFieldPath(t *testing.T) {
	t.Parallel()
	type item struct {
		Name string            `json:"name"`
		Tags map[string]string `json:"tags"`
	}
	type doc struct {
		Items  []item                       `json:"items"`
		ByName map[string]item              `json:"by_name"`
		Labels api.StringMap                `json:"labels"`
		Deep   map[string]map[string]string `json:"deep"`
		Plain  string
		Skip   string `json:"-"`
	}
	typ := reflect.TypeFor[*doc]()
	for in, want := range map[string]string{"spec.x": "spec.x", "name": "name"} {
		for _, generic := range []reflect.Type{reflect.TypeFor[*map[string]any](), reflect.TypeFor[*map[string]json.RawMessage]()} {
			if got := fieldPath(generic, in); got != want {
				t.Errorf("fieldPath(%v, %q) = %q, want %q", generic, in, got, want)
			}
		}
	}
	for in, want := range map[string]string{
		"":                               "",
		"labels.team":                    "labels[team]",
		"labels.app.kubernetes.io/name":  "labels[app.kubernetes.io/name]",
		"items[2].name":                  "items[2].name",
		"items[2].tags.a.b":              "items[2].tags[a.b]",
		"by_name.x.name":                 "by_name[x].name",
		"by_name.x.tags.k":               "by_name[x].tags[k]",
		"deep.a.b":                       "deep[a][b]",
		"Plain":                          "Plain",
		"unknown":                        "unknown",
		"items[0].unknown":               "items[0].unknown",
		"Skip":                           "Skip",
		fmt.Sprintf("items[%d]", 1<<20):  fmt.Sprintf("items[%d]", 1<<20),
		"labels":                         "labels",
		"by_name.x":                      "by_name[x]",
		"items[1].tags.k.with.many.dots": "items[1].tags[k.with.many.dots]",
		"metadata.labels.team.whatever":  "metadata.labels.team.whatever",
	} {
		if got := fieldPath(typ, in); got != want {
			t.Errorf("fieldPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDecodeManyErrors: the JSON decoder stops collecting at 100 field
// errors and says so; XML reports them all (the problem caps them).
func TestDecodeManyErrors(t *testing.T) {
	t.Parallel()
	var j, x strings.Builder
	j.WriteString(`{"metadata":{"name":"a"}`)
	x.WriteString(`<LabInstanceRequest>`)
	for i := range 250 {
		fmt.Fprintf(&j, `,"k%03d":1`, i)
		fmt.Fprintf(&x, `<k%03d/>`, i)
	}
	j.WriteString(`}`)
	x.WriteString(`</LabInstanceRequest>`)
	err := decode(JSON, j.String(), &api.LabInstanceRequest{})
	if got := fields(err); len(got) != maxStrictErrors || got[0] != "k000: unknown field" || !strings.Contains(err.(*api.Error).Message, "the first 100") {
		t.Errorf("JSON: %d fields (%q...), message %q", len(got), got[:1], err.(*api.Error).Message)
	}
	err = decode(XML, x.String(), &api.LabInstanceRequest{})
	if got := fields(err); len(got) != 250 || got[249] != "k249: unknown field" {
		t.Errorf("XML: %d fields", len(got))
	}
}

// TestDecodeWorkloadFields: the spec's workload fields and the new status
// fields decode from every format, and are held to the same strictness.
func TestDecodeWorkloadFields(t *testing.T) {
	t.Parallel()
	const js = `{"metadata":{"name":"a1"},"spec":{"lab_template":"python:3","student_email":"a@b.edu","duration_minutes":5,` +
		`"resource_requests":{"cpu":"50m","memory":"256Mi"},"workspace":{"mount_path":"/home/student"},` +
		`"command":["httpd","-f"],"args":["-h","/www",""],"port":8080,"readiness_path":"/healthz","idle_timeout_minutes":30,` +
		`"security_context":{"run_as_user":0,"read_only_root_filesystem":true}},` +
		`"status":{"phase":"RUNNING","endpoint":"172.18.0.2:8080","last_activity":"2026-01-02T15:04:05Z"}}`
	const ym = `
metadata: {name: a1}
spec:
  lab_template: python:3
  student_email: a@b.edu
  duration_minutes: 5
  resource_requests: {cpu: 50m, memory: 256Mi}
  workspace: {mount_path: /home/student}
  command: [httpd, -f]
  args: [-h, /www, ""]
  port: 8080
  readiness_path: /healthz
  idle_timeout_minutes: 30
  security_context: {run_as_user: 0, read_only_root_filesystem: true}
status: {phase: RUNNING, endpoint: "172.18.0.2:8080", last_activity: "2026-01-02T15:04:05Z"}
`
	const xm = `<LabInstanceRequest><metadata><name>a1</name></metadata><spec><lab_template>python:3</lab_template>` +
		`<student_email>a@b.edu</student_email><duration_minutes>5</duration_minutes>` +
		`<resource_requests><cpu>50m</cpu><memory>256Mi</memory></resource_requests><workspace><mount_path>/home/student</mount_path></workspace>` +
		`<command><arg>httpd</arg><arg>-f</arg></command><args><arg>-h</arg><arg>/www</arg><arg/></args><port>8080</port>` +
		`<readiness_path>/healthz</readiness_path><idle_timeout_minutes>30</idle_timeout_minutes>` +
		`<security_context><run_as_user>0</run_as_user><read_only_root_filesystem>true</read_only_root_filesystem></security_context></spec>` +
		`<status><phase>RUNNING</phase><endpoint>172.18.0.2:8080</endpoint><last_activity>2026-01-02T15:04:05Z</last_activity></status></LabInstanceRequest>`
	var want *api.LabInstanceRequest
	for _, tc := range []struct {
		f    Format
		body string
	}{{JSON, js}, {YAML, ym}, {XML, xm}} {
		var l api.LabInstanceRequest
		if err := decode(tc.f, tc.body, &l); err != nil {
			t.Fatalf("%v: %v", tc.f, err)
		}
		s := l.Spec
		if s.ResourceRequests == nil || *s.ResourceRequests != (api.ResourceRequests{CPU: "50m", Memory: "256Mi"}) ||
			s.Workspace == nil || s.Workspace.MountPath != "/home/student" ||
			!slices.Equal(s.Command, []string{"httpd", "-f"}) || !slices.Equal(s.Args, []string{"-h", "/www", ""}) ||
			s.Port != 8080 || s.ReadinessPath != "/healthz" || s.IdleTimeoutMinutes != 30 ||
			s.SecurityContext == nil || s.SecurityContext.RunAsUser == nil || *s.SecurityContext.RunAsUser != 0 || !s.SecurityContext.ReadOnlyRootFilesystem ||
			l.Status.Endpoint != "172.18.0.2:8080" || l.Status.LastActivity == nil {
			t.Fatalf("%v: decoded %+v %+v", tc.f, s, l.Status)
		}
		l.XMLName = xml.Name{}
		if want == nil {
			want = &l
		} else if !reflect.DeepEqual(&l, want) {
			t.Errorf("%v decodes to\n%+v, JSON to\n%+v", tc.f, l, *want)
		}
	}

	bad := []struct {
		name   string
		f      Format
		body   string
		fields []string
	}{
		{"json unknown in requests", JSON, `{"spec":{"resource_requests":{"cpu":"1","gpu":"1"}}}`, []string{"spec.resource_requests.gpu: unknown field"}},
		{"json unknown in security_context", JSON, `{"spec":{"security_context":{"run_as_group":1}}}`, []string{"spec.security_context.run_as_group: unknown field"}},
		{"json unknown in workspace", JSON, `{"spec":{"workspace":{"path":"/x"}}}`, []string{"spec.workspace.path: unknown field"}},
		{"json duplicate port", JSON, `{"spec":{"port":1,"port":2}}`, []string{"spec.port: duplicate field"}},
		{"json command not a list", JSON, `{"spec":{"command":"httpd -f"}}`, []string{"spec.command: must be an array, not string"}},
		{"json arg not a string", JSON, `{"spec":{"args":["-p",8080]}}`, []string{"spec.args: must be a string, not number"}},
		{"json bool as string", JSON, `{"spec":{"security_context":{"read_only_root_filesystem":"yes"}}}`, []string{"spec.security_context.read_only_root_filesystem: must be a boolean, not string"}},
		{"yaml unknown in workspace", YAML, "spec:\n  workspace:\n    mount: /x\n", []string{"spec.workspace.mount: unknown field"}},
		{"xml unknown list element", XML, `<LabInstanceRequest><spec><command><item>x</item></command></spec></LabInstanceRequest>`, []string{"spec.command.item: unknown field"}},
		{"xml duplicate mount_path", XML, `<LabInstanceRequest><spec><workspace><mount_path>/a</mount_path><mount_path>/b</mount_path></workspace></spec></LabInstanceRequest>`,
			[]string{"spec.workspace.mount_path: duplicate field"}},
		{"xml two command lists", XML, `<LabInstanceRequest><spec><command><arg>a</arg></command><command><arg>b</arg></command></spec></LabInstanceRequest>`,
			[]string{"spec.command: duplicate field"}},
		{"xml unknown in security_context", XML, `<LabInstanceRequest><spec><security_context><privileged>true</privileged></security_context></spec></LabInstanceRequest>`,
			[]string{"spec.security_context.privileged: unknown field"}},
		{"xml element in an arg", XML, `<LabInstanceRequest><spec><args><arg><b>x</b></arg></args></spec></LabInstanceRequest>`, []string{"spec.args.arg.b: unknown field"}},
	}
	for _, tc := range bad {
		err := decode(tc.f, tc.body, &api.LabInstanceRequest{})
		if api.ErrorCode(err) != api.EBADREQUEST {
			t.Errorf("%s: err = %v, want a 400", tc.name, err)
			continue
		}
		if got := fields(err); !slices.Equal(got, tc.fields) {
			t.Errorf("%s: fields %q, want %q", tc.name, got, tc.fields)
		}
	}
}
