// Package images decides which container images labs may run: an
// installation's --allowed-images patterns.
//
// # Pattern language
//
// A pattern is a path.Match pattern matched against the whole image
// reference: '*' matches any run of characters except '/', '?' any one
// character except '/', and [...] a character class; there is no '**'.
// Because '*' stops at '/', a pattern names registry and repository path
// exactly and leaves only what follows the last '/' open:
//
//	registry.example.edu/labs/*    every image directly under labs/, any tag or digest
//	registry.example.edu/labs/*/*  one level deeper
//	python:*                       every tag of Docker Hub's python (python@sha256:… is not a tag)
//	python@*                       every digest of it
//	python:3.12-*                  some tags only
//
// A reference is matched in two spellings of the same image, and allowed
// when any pattern matches either: the familiar one, as `docker pull`
// prints it ("python:3.12", "registry.example.edu/labs/python:3.12"), and
// the fully qualified one ("docker.io/library/python:3.12"). A reference
// without tag or digest is matched with the tag the engine pulls,
// ":latest". A reference with both tag and digest is matched as written
// ("python:3.12@sha256:…"), which "python:*" allows: the engine runs the
// digest. So "python:*" allows "python", "docker.io/library/python:3.12"
// and "python:3.12@sha256:…", not "python@sha256:…",
// "ghcr.io/python:3.12" or "evil.example/python:3.12".
//
// An empty policy allows every image (the behaviour before the setting
// existed).
package images

import (
	"fmt"
	"path"
	"strings"

	"github.com/distribution/reference"
)

// Policy is a set of allowed image patterns; the zero value (and nil)
// allows everything.
type Policy struct{ patterns []string }

// ParsePolicy reads patterns (as given to --allowed-images, already split
// on commas); blank entries are skipped, a malformed pattern is an error.
func ParsePolicy(patterns []string) (*Policy, error) {
	p := &Policy{}
	for _, pat := range patterns {
		pat = strings.TrimSpace(pat)
		if pat == "" {
			continue
		}
		if _, err := path.Match(pat, ""); err != nil {
			return nil, fmt.Errorf("allowed image pattern %q: %w", pat, err)
		}
		p.patterns = append(p.patterns, pat)
	}
	return p, nil
}

// Patterns lists the policy's patterns.
func (p *Policy) Patterns() []string {
	if p == nil {
		return nil
	}
	return p.patterns
}

// Restricts reports whether the policy allows only some images.
func (p *Policy) Restricts() bool { return p != nil && len(p.patterns) > 0 }

// Check returns nil when ref may run, else an error saying why, for the
// user (the patterns are not secret: they tell a teacher what to use).
func (p *Policy) Check(ref string) error {
	if !p.Restricts() {
		return nil
	}
	for _, name := range spellings(ref) {
		for _, pat := range p.patterns {
			if ok, _ := path.Match(pat, name); ok {
				return nil
			}
		}
	}
	return fmt.Errorf("image %q is not allowed on this installation; allowed: %s", ref, strings.Join(p.patterns, ", "))
}

// spellings are the familiar and fully qualified forms of ref, tag made
// explicit; none if ref is not a reference.
func spellings(ref string) []string {
	n, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil
	}
	n = reference.TagNameOnly(n)
	return []string{reference.FamiliarString(n), n.String()}
}
