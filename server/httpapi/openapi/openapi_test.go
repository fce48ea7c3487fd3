package openapi_test

import (
	"context"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"sigs.k8s.io/yaml"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/httpapi/openapi"
)

// TestDocumentValid loads the served JSON document with kin-openapi and
// validates it against the OpenAPI 3 rules (references resolve, examples
// match their schemas, media-type keys do not overlap, ...).
func TestDocumentValid(t *testing.T) {
	t.Parallel()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapi.JSON())
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Fatalf("openapi %q, want 3.0.3", doc.OpenAPI)
	}
	if doc.Components.SecuritySchemes["bearerAuth"] == nil {
		t.Fatal("no bearerAuth security scheme")
	}
}

// TestJSONMatchesYAML checks the order-keeping conversion against the
// generic one: both documents must be the same value.
func TestJSONMatchesYAML(t *testing.T) {
	t.Parallel()
	want, err := yaml.YAMLToJSON(openapi.YAML())
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(openapi.JSON(), &a); err != nil {
		t.Fatalf("served JSON does not parse: %v", err)
	}
	if err := json.Unmarshal(want, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("JSON and YAML documents differ")
	}
}

// TestSchemasMatchTypes holds the document's object schemas to the wire
// types in internal/api: the same property names as the types' JSON
// fields, both ways, and for each list the XML element names of its tag
// ("command>arg"). A field added to a type and not documented, or the
// reverse, fails here.
func TestSchemasMatchTypes(t *testing.T) {
	t.Parallel()
	doc, err := openapi3.NewLoader().LoadFromData(openapi.JSON())
	if err != nil {
		t.Fatal(err)
	}
	schemas := doc.Components.Schemas
	for name, typ := range map[string]reflect.Type{
		"LabInstanceRequest":         reflect.TypeFor[api.LabInstanceRequest](),
		"LabInstanceRequestManifest": reflect.TypeFor[api.LabInstanceRequest](),
		"ObjectMeta":                 reflect.TypeFor[api.ObjectMeta](),
		"Spec":                       reflect.TypeFor[api.Spec](),
		"Status":                     reflect.TypeFor[api.Status](),
		"ResourceLimits":             reflect.TypeFor[api.ResourceLimits](),
		"ResourceRequests":           reflect.TypeFor[api.ResourceRequests](),
		"Workspace":                  reflect.TypeFor[api.Workspace](),
		"SecurityContext":            reflect.TypeFor[api.SecurityContext](),
		"Condition":                  reflect.TypeFor[api.Condition](),
		"Transition":                 reflect.TypeFor[api.Transition](),
	} {
		s := schemas[name]
		if s == nil || s.Value == nil {
			t.Errorf("no schema %s", name)
			continue
		}
		props := s.Value.Properties
		fields := wireFields(typ)
		for json, xmlTag := range fields {
			p := props[json]
			if p == nil {
				t.Errorf("%s: field %s of %s is not documented", name, json, typ)
				continue
			}
			parent, child, list := strings.Cut(xmlTag, ">")
			if !list {
				continue
			}
			x := p.Value.XML
			if x == nil || !x.Wrapped || (x.Name != "" && x.Name != parent) || p.Value.Items == nil {
				t.Errorf("%s.%s: want a wrapped XML list <%s>", name, json, parent)
				continue
			}
			if ix := p.Value.Items.Value.XML; ix == nil || ix.Name != child {
				t.Errorf("%s.%s: items want XML name %q (tag %q), have %+v", name, json, child, xmlTag, ix)
			}
		}
		for prop := range props {
			if _, ok := fields[prop]; !ok {
				t.Errorf("%s: property %s is no field of %s", name, prop, typ)
			}
		}
	}

	// A merge patch may name every spec field, and the flat create form
	// every spec field besides name, namespace, labels and annotations.
	spec := slices.Sorted(maps.Keys(wireFields(reflect.TypeFor[api.Spec]())))
	patchSpec := slices.Sorted(maps.Keys(schemas["LabInstanceRequestPatch"].Value.Properties["spec"].Value.Properties))
	if !slices.Equal(patchSpec, spec) {
		t.Errorf("patch spec properties %v, want the spec's %v", patchSpec, spec)
	}
	flat := slices.Sorted(maps.Keys(schemas["LabInstanceRequestFlat"].Value.Properties))
	want := slices.Sorted(slices.Values(append([]string{"name", "namespace", "labels", "annotations"}, spec...)))
	if !slices.Equal(flat, want) {
		t.Errorf("flat form properties %v, want %v", flat, want)
	}
}

// wireFields maps the JSON names of t's fields to their xml tags.
func wireFields(t reflect.Type) map[string]string {
	out := map[string]string{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		x, _, _ := strings.Cut(f.Tag.Get("xml"), ",")
		out[name] = x
	}
	return out
}
