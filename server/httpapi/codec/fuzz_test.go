package codec

import (
	"errors"
	"reflect"
	"testing"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// The decoding fuzz targets: whatever the bytes, decoding never panics,
// fails only with a 4xx *api.Error, and what it accepts is stable: encoded
// as JSON and decoded again it is the same lab. Seeds live in
// testdata/fuzz/<target>; `make fuzz-short` runs each target briefly.

func fuzzDecode(t *testing.T, f Format, data []byte) {
	b, err := NewBody(f, data)
	if err != nil {
		checkRefusal(t, err)
		return
	}
	if _, err := b.Fields(); err != nil {
		checkRefusal(t, err)
	}
	var l api.LabInstanceRequest
	if err := b.Decode(&l); err != nil {
		checkRefusal(t, err)
		return
	}
	again, err := JSON.Encode(&l)
	if err != nil {
		t.Fatalf("encode what was decoded: %v", err)
	}
	b2, err := NewBody(JSON, again)
	if err != nil {
		t.Fatalf("re-read %s: %v", again, err)
	}
	var l2 api.LabInstanceRequest
	if err := b2.Decode(&l2); err != nil {
		t.Fatalf("decode %s again: %v", again, err)
	}
	if !reflect.DeepEqual(normal(&l), normal(&l2)) {
		t.Fatalf("not stable: %+v became %+v", l, l2)
	}
}

// normal makes forms that mean the same compare equal (a nil and an
// empty map or list encode alike).
func normal(l *api.LabInstanceRequest) *api.LabInstanceRequest {
	c := l.DeepCopy()
	c.XMLName = l.XMLName
	if len(c.Metadata.Labels) == 0 {
		c.Metadata.Labels = nil
	}
	if len(c.Metadata.Annotations) == 0 {
		c.Metadata.Annotations = nil
	}
	if len(c.Spec.Environment) == 0 {
		c.Spec.Environment = nil
	}
	if len(c.Metadata.Finalizers) == 0 {
		c.Metadata.Finalizers = nil
	}
	if len(c.Spec.Command) == 0 {
		c.Spec.Command = nil
	}
	if len(c.Spec.Args) == 0 {
		c.Spec.Args = nil
	}
	if len(c.Status.Conditions) == 0 {
		c.Status.Conditions = nil
	}
	if len(c.Status.Transitions) == 0 {
		c.Status.Transitions = nil
	}
	if len(c.Status.ResourceAllocation) == 0 {
		c.Status.ResourceAllocation = nil
	}
	c.XMLName.Space, c.XMLName.Local = "", ""
	return c
}

func checkRefusal(t *testing.T, err error) {
	t.Helper()
	var ae *api.Error
	if !errors.As(err, &ae) {
		t.Fatalf("a refusal that is no *api.Error (a 500): %v", err)
	}
	if s := api.HTTPStatus(ae.Code); s < 400 || s >= 500 {
		t.Fatalf("refused with %d (%s): %v", s, ae.Code, err)
	}
}

const seedManifest = `{"api_version":"lab.labrm.io/v1","kind":"LabInstanceRequest","metadata":{"name":"a","labels":{"k":"v"},"finalizers":["x"]},"spec":{"lab_template":"python:3","student_email":"s@u.edu","duration_minutes":5,"environment":{"A":"b"},"command":["sh"],"args":["-c",""],"security_context":{"run_as_user":1000}}}`

func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(seedManifest))
	f.Add([]byte(`{"metadata":{"name":"a","name":"b"}}`))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, JSON, data) })
}

func FuzzDecodeYAML(f *testing.F) {
	f.Add([]byte("metadata:\n  name: a\nspec:\n  duration_minutes: 5\n  environment: {A: b}\n"))
	f.Add([]byte("a: 1\n---\nb: 2\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, YAML, data) })
}

func FuzzDecodeXML(f *testing.F) {
	f.Add([]byte(`<LabInstanceRequest><metadata><name>a</name><labels><entry key="k">v</entry></labels><finalizers><finalizer>x</finalizer></finalizers></metadata><spec><duration_minutes>5</duration_minutes><command><arg>sh</arg></command></spec></LabInstanceRequest>`))
	f.Add([]byte(`<LabInstanceRequest><spec><port>x</port></spec></LabInstanceRequest>`))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, XML, data) })
}
