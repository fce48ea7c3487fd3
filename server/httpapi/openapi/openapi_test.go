package openapi_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"sigs.k8s.io/yaml"

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
