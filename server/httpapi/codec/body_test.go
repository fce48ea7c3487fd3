package codec

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

func TestBodyFormat(t *testing.T) {
	t.Parallel()
	cases := []struct {
		ct      string
		allowed []Offer
		want    Format
		code    string // "" = accepted
		detail  string // in the error
	}{
		{"", Objects, JSON, "", ""}, // no Content-Type: JSON
		{"application/json", Objects, JSON, "", ""},
		{"application/json; charset=UTF-8", Objects, JSON, "", ""},
		{"application/yaml", Objects, YAML, "", ""},
		{"application/x-yaml", Objects, YAML, "", ""},
		{"text/yaml; charset=utf8", Objects, YAML, "", ""},
		{"application/xml", Objects, XML, "", ""},
		{"text/xml", Objects, XML, "", ""},
		{"application/merge-patch+json", Patches, JSON, "", ""},
		{"application/yaml", Patches, YAML, "", ""},
		{"application/xml", Patches, 0, api.EUNSUPPORTED, "use one of application/merge-patch+json, application/json, application/yaml, application/x-yaml, text/yaml"},
		{"application/merge-patch+json", Objects, 0, api.EUNSUPPORTED, "use one of application/json, application/yaml, application/x-yaml, text/yaml, application/xml, text/xml"},
		{"application/json-patch+json", Patches, 0, api.EUNSUPPORTED, "RFC 7396"},
		{"application/json; charset=latin1", Objects, 0, api.EUNSUPPORTED, "latin1"},
		{"text/plain", Objects, 0, api.EUNSUPPORTED, `"text/plain"`},
		{"application/x-www-form-urlencoded", Objects, 0, api.EUNSUPPORTED, ""},
		{"not a type", Objects, 0, api.EUNSUPPORTED, "malformed"},
	}
	for _, tc := range cases {
		f, err := BodyFormat(tc.ct, tc.allowed)
		if tc.code != "" {
			if api.ErrorCode(err) != tc.code || !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("%q: err = %v, want %s with %q", tc.ct, err, tc.code, tc.detail)
			}
			continue
		}
		if err != nil || f != tc.want {
			t.Errorf("%q: %v, %v; want %v", tc.ct, f, err, tc.want)
		}
	}
}

func TestReadBody(t *testing.T) {
	t.Parallel()
	const max = 64
	read := func(body string, chunked bool) ([]byte, error) {
		var r io.Reader = strings.NewReader(body)
		if chunked {
			r = struct{ io.Reader }{r} // no length known up front
		}
		req := httptest.NewRequest(http.MethodPost, "/", r)
		if chunked {
			req.ContentLength = -1
		}
		return ReadBody(httptest.NewRecorder(), req, max)
	}
	for _, chunked := range []bool{false, true} {
		if b, err := read(`{"a":1}`, chunked); err != nil || string(b) != `{"a":1}` {
			t.Errorf("chunked=%v: %q, %v", chunked, b, err)
		}
		if b, err := read(strings.Repeat("x", max), chunked); err != nil || len(b) != max {
			t.Errorf("chunked=%v: a body of exactly the limit: %d bytes, %v", chunked, len(b), err)
		}
		if _, err := read(strings.Repeat("x", max+1), chunked); api.ErrorCode(err) != api.ETOOLARGE {
			t.Errorf("chunked=%v: over the limit: %v", chunked, err)
		}
		if _, err := read(" \n\t", chunked); api.ErrorCode(err) != api.EBADREQUEST {
			t.Errorf("chunked=%v: blank body: %v", chunked, err)
		}
	}
}
