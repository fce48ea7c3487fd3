package store

import (
	"testing"
	"unicode/utf8"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// FuzzContinueToken: a client-supplied continue token decodes or is a 400
// naming "continue", never a panic; a token the store issued decodes to
// the position it was made from. Seeds in testdata/fuzz/FuzzContinueToken.
func FuzzContinueToken(f *testing.F) {
	f.Add(encodeContinue("default", "lab-1"), "default", "lab-1")
	f.Add("eyJucyI6IiIsIm4iOiIifQ", "", "x")
	f.Add("not base64!", "ns", "")
	f.Fuzz(func(t *testing.T, token, ns, name string) {
		tok, err := decodeContinue(token)
		if err != nil {
			e, ok := err.(*api.Error)
			if !ok || e.Code != api.EBADREQUEST || len(e.Fields) != 1 || e.Fields[0].Field != "continue" {
				t.Fatalf("decodeContinue(%q): %#v", token, err)
			}
		} else if tok.Name == "" {
			t.Fatalf("decodeContinue(%q) accepted a token without a name", token)
		}
		if name == "" || !utf8.ValidString(ns) || !utf8.ValidString(name) {
			return // the store issues tokens for valid names only
		}
		back, err := decodeContinue(encodeContinue(ns, name))
		if err != nil || back.Namespace != ns || back.Name != name {
			t.Fatalf("round trip of (%q, %q): %+v, %v", ns, name, back, err)
		}
	})
}
