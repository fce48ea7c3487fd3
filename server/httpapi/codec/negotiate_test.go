package codec

import (
	"strings"
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
		o, ok := Negotiate(tc.accept, Objects)
		got := ""
		if ok {
			got = o.MediaType
		}
		if got != tc.want {
			t.Errorf("Negotiate(%q) = %q, want %q", tc.accept, got, tc.want)
		}
	}
	// Status offers have no XML.
	if o, ok := Negotiate("application/xml, */*;q=0.1", Status); !ok || o.Format != JSON {
		t.Errorf("status offer for XML: %+v %v", o, ok)
	}
	if _, ok := Negotiate("text/xml", Status); ok {
		t.Error("status answered in XML")
	}
	err := NotAcceptable("text/html", Status)
	if api.ErrorCode(err) != api.ENOTACCEPTABLE || !strings.Contains(err.Error(), `"text/html"`) ||
		!strings.Contains(err.Error(), "application/json, application/yaml, application/x-yaml, text/yaml") {
		t.Errorf("NotAcceptable: %v", err)
	}
}

func TestOfferContentType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ offer, want string }{
		{"application/json", "application/json"},
		{"text/yaml", "text/yaml; charset=utf-8"},
		{"text/xml", "text/xml; charset=utf-8"},
		{"application/xml", "application/xml"},
	} {
		if got := (Offer{MediaType: tc.offer}).ContentType(); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.offer, got, tc.want)
		}
	}
}
