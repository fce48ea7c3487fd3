package images_test

import (
	"strings"
	"testing"

	"github.com/labrm/terraform-provider-lab/server/images"
)

func TestPolicy(t *testing.T) {
	t.Parallel()
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	p, err := images.ParsePolicy([]string{" registry.example.edu/labs/* ", "python:*", "", "python@*", "labrm/busybox:test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ref   string
		allow bool
	}{
		{"registry.example.edu/labs/python:3.12", true},
		{"registry.example.edu/labs/python", true}, // :latest
		{"registry.example.edu/labs/python@" + digest, true},
		{"registry.example.edu/labs/team/python:3.12", false}, // * stops at /
		{"registry.example.edu/other/python:3.12", false},
		{"registry.example.edu:5000/labs/python:3.12", false}, // another host
		{"python:3.12", true},
		{"python", true}, // python:latest
		{"docker.io/library/python:3.12", true},
		{"index.docker.io/library/python:3.12", true},
		{"python:3.12@" + digest, true},
		{"python@" + digest, true},
		{"ghcr.io/python:3.12", false},
		{"evil.example/python:3.12", false},
		{"evil.example/library/python:3.12", false},
		{"pythonx:3.12", false},
		{"library/python:3.12", true},
		{"labrm/busybox:test", true},
		{"docker.io/labrm/busybox:test", true},
		{"labrm/busybox:other", false},
		{"labrm/busybox", false},
		{"Not A Reference", false},
		{"", false},
	} {
		err := p.Check(tc.ref)
		if (err == nil) != tc.allow {
			t.Errorf("Check(%q) = %v, want allowed=%v", tc.ref, err, tc.allow)
		}
		if err != nil && !strings.Contains(err.Error(), "allowed: registry.example.edu/labs/*, python:*, python@*, labrm/busybox:test") {
			t.Errorf("Check(%q): message %q does not list the patterns", tc.ref, err)
		}
	}
	// Fully qualified patterns work too.
	q, _ := images.ParsePolicy([]string{"docker.io/library/*"})
	if q.Check("python:3") != nil || q.Check("labrm/busybox:test") == nil {
		t.Fatal("docker.io/library/* should allow official images only")
	}
	for _, empty := range []*images.Policy{nil, {}, mustParse(t, "", " ")} {
		if empty.Restricts() || empty.Check("anything.example/x:1") != nil {
			t.Fatal("an empty policy must allow everything")
		}
	}
	if _, err := images.ParsePolicy([]string{"registry.example.edu/[labs"}); err == nil {
		t.Fatal("malformed pattern accepted")
	}
}

func mustParse(t *testing.T, patterns ...string) *images.Policy {
	t.Helper()
	p, err := images.ParsePolicy(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
