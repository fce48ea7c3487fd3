package codec

import (
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

func TestEncode(t *testing.T) {
	t.Parallel()
	l := &api.LabInstanceRequest{APIVersion: api.APIVersion, Kind: api.Kind,
		Metadata: api.ObjectMeta{Name: "x", Namespace: "default", Labels: api.StringMap{"a": "<b>"}},
		Spec:     api.Spec{LabTemplate: "python:3", StudentEmail: "a@b.edu", DurationMinutes: 5}}
	for _, f := range []Format{JSON, YAML, XML} {
		b, err := f.Encode(l)
		if err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		var back api.LabInstanceRequest
		switch f {
		case JSON:
			err = json.Unmarshal(b, &back)
			if !strings.Contains(string(b), `"a":"<b>"`) || !strings.HasSuffix(string(b), "\n") {
				t.Errorf("JSON escapes HTML or lacks the newline: %s", b)
			}
		case YAML:
			err = yaml.Unmarshal(b, &back)
			if !strings.Contains(string(b), "lab_template: python:3") {
				t.Errorf("YAML is not snake_case: %s", b)
			}
		case XML:
			err = xml.Unmarshal(b, &back)
			if !strings.HasPrefix(string(b), xml.Header+"<LabInstanceRequest>") {
				t.Errorf("XML: %s", b)
			}
		}
		if err != nil || back.Metadata.Name != "x" || back.Metadata.Labels["a"] != "<b>" || back.Spec.DurationMinutes != 5 {
			t.Errorf("%v round trip: %v %+v", f, err, back)
		}
	}
}

func TestEncodeProblem(t *testing.T) {
	t.Parallel()
	p := api.NewProblem(&api.Error{Code: api.EINVALID, Message: "validation failed",
		Fields: []api.FieldError{{Field: "spec.duration_minutes", Message: "too long"}}}, "/api/lab-instances/")
	for _, tc := range []struct {
		f        Format
		ct, want string
	}{
		{JSON, "application/problem+json", `"errors":[{"field":"spec.duration_minutes","message":"too long"}]`},
		{YAML, "application/yaml", "- field: spec.duration_minutes"},
		{XML, "application/problem+xml", `<problem xmlns="urn:ietf:rfc:7807">`},
	} {
		b, err := tc.f.EncodeProblem(p)
		if err != nil || !strings.Contains(string(b), tc.want) || !strings.Contains(string(b), "422") {
			t.Errorf("%v: %v\n%s", tc.f, err, b)
		}
		if got := tc.f.ProblemType(); got != tc.ct {
			t.Errorf("%v: problem type %q, want %q", tc.f, got, tc.ct)
		}
	}
	if b, _ := XML.EncodeProblem(p); !strings.Contains(string(b), "<errors><error><field>spec.duration_minutes</field>") {
		t.Errorf("XML problem fields: %s", b)
	}
}
