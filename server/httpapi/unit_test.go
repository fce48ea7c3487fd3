package httpapi

import (
	"encoding/json"
	"testing"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

func TestNegotiate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		accept string
		want   string // "" = not acceptable
	}{
		{"", "application/json"},
		{"garbage;;;", "application/json"},
		{"*/*", "application/json"},
		{"application/json;stream=watch", "application/json"},
		{"text/*", "text/yaml"},
		{"application/yaml, application/json", "application/yaml"},
		{"application/json;q=0.2, application/xml;q=0.4, text/yaml;q=0.3", "application/xml"},
		{"*/*;q=0.1, text/xml", "text/xml"},
		{"application/*;q=0.5, application/xml", "application/xml"},
		{"application/xml;q=0, */*", "application/json"},
		{"application/json;q=0, application/yaml;q=0, application/x-yaml;q=0, text/yaml;q=0, */*;q=0.5", "application/xml"},
		{"text/html", ""},
		{"*/*;q=0", ""},
		{"application/json;q=2", "application/json"}, // invalid q ignored: empty header
	}
	for _, tc := range cases {
		o, ok := negotiate(tc.accept, objectOffers)
		got := ""
		if ok {
			got = o.mediaType
		}
		if got != tc.want {
			t.Errorf("negotiate(%q) = %q, want %q", tc.accept, got, tc.want)
		}
	}
}

// TestMergePatch runs the examples of RFC 7396 appendix A.
func TestMergePatch(t *testing.T) {
	t.Parallel()
	cases := []struct{ target, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`["a","b"]`, `["c","d"]`, `["c","d"]`},
		{`{"a":"b"}`, `["c"]`, `["c"]`},
		{`{"a":"foo"}`, `null`, `null`},
		{`{"a":"foo"}`, `"bar"`, `"bar"`},
		{`{"e":null}`, `{"a":1}`, `{"a":1,"e":null}`},
		{`[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
	}
	for _, tc := range cases {
		var target, patch, want any
		for i, s := range []string{tc.target, tc.patch, tc.want} {
			if err := json.Unmarshal([]byte(s), []*any{&target, &patch, &want}[i]); err != nil {
				t.Fatal(err)
			}
		}
		got, _ := json.Marshal(mergePatch(target, patch))
		w, _ := json.Marshal(want)
		if string(got) != string(w) {
			t.Errorf("merge %s with %s = %s, want %s", tc.target, tc.patch, got, w)
		}
	}
}

func TestDecodeXMLStrict(t *testing.T) {
	t.Parallel()
	ok := `<LabInstanceRequest><metadata><name>x</name><finalizers><finalizer>a.b/c</finalizer></finalizers>` +
		`<labels><entry key="k">v</entry></labels></metadata><spec><duration_minutes>5</duration_minutes></spec>` +
		`<status><conditions><condition><type>Ready</type></condition></conditions></status></LabInstanceRequest>`
	var l api.LabInstanceRequest
	if err := decodeXMLStrict([]byte(ok), &l); err != nil {
		t.Fatalf("valid XML rejected: %v", err)
	}
	if l.Metadata.Finalizers[0] != "a.b/c" || l.Metadata.Labels["k"] != "v" || l.Status.Conditions[0].Type != "Ready" {
		t.Fatalf("decoded %+v", l)
	}
	bad := map[string]string{
		`<LabInstanceRequest><metadata><finalizers><item>x</item></finalizers></metadata></LabInstanceRequest>`:   "metadata.finalizers.item",
		`<LabInstanceRequest><metadata><labels><label key="a">b</label></labels></metadata></LabInstanceRequest>`: "metadata.labels.label",
		`<LabInstanceRequest><spec><duration_minutes><x/></duration_minutes></spec></LabInstanceRequest>`:         "spec.duration_minutes.x",
		`<LabInstanceRequest><extra/></LabInstanceRequest>`:                                                       "extra",
	}
	for doc, field := range bad {
		err := decodeXMLStrict([]byte(doc), &api.LabInstanceRequest{})
		ae, isAPI := err.(*api.Error)
		if !isAPI || ae.Code != api.EBADREQUEST || len(ae.Fields) != 1 || ae.Fields[0].Field != field {
			t.Errorf("%s: got %v, want 400 naming %s", doc, err, field)
		}
	}
	if err := decodeXMLStrict([]byte(ok+`<LabInstanceRequest/>`), &api.LabInstanceRequest{}); api.ErrorCode(err) != api.EBADREQUEST {
		t.Errorf("two roots: %v", err)
	}
}
