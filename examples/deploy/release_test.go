package deploy

import (
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// goreleaser is the part of .goreleaser.yaml the checks read.
type goreleaser struct {
	Version     int
	ProjectName string `json:"project_name"`
	Builds      []struct {
		ID      string
		Main    string
		Binary  string
		Env     []string
		Flags   []string
		Ldflags []string
		Goos    []string
		Goarch  []string
	}
	Archives []struct {
		ID           string
		IDs          []string
		Formats      []string
		NameTemplate string `json:"name_template"`
		Files        []string
	}
	Checksum struct {
		NameTemplate string `json:"name_template"`
		Algorithm    string
		ExtraFiles   []extraFile `json:"extra_files"`
	}
	Signs []struct {
		Artifacts string
		Args      []string
	}
	Release struct {
		ExtraFiles []extraFile `json:"extra_files"`
	}
}

type extraFile struct {
	Glob         string
	NameTemplate string `json:"name_template"`
}

// hasVersionVar reports whether the Go package in dir is a main package
// with a package-level `var version string`-like variable, which
// -X main.version=... stamps.
func hasVersionVar(t *testing.T, dir string) bool {
	t.Helper()
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		if f.Name.Name != "main" {
			t.Errorf("%s is package %s, not main", filepath.Join(dir, name), f.Name.Name)
			return false
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.VAR {
				continue
			}
			for _, s := range g.Specs {
				for _, n := range s.(*ast.ValueSpec).Names {
					found = found || n.Name == "version"
				}
			}
		}
	}
	return found
}

// TestRelease checks .goreleaser.yaml the way Terraform providers ship:
// the provider binary named terraform-provider-lab_vVERSION for every
// platform in zips, the registry manifest beside a SHA256SUMS that is
// signed, labd for Linux; every main package it builds exists and has
// the version variable its ldflags stamp. With goreleaser installed,
// `goreleaser check` must pass too.
func TestRelease(t *testing.T) {
	t.Parallel()
	var cfg goreleaser
	// Not strict: goreleaser's schema is large; `goreleaser check` is.
	if err := yaml.Unmarshal([]byte(repoFile(t, ".goreleaser.yaml")), &cfg); err != nil {
		t.Fatalf(".goreleaser.yaml: %v", err)
	}
	if cfg.Version != 2 || cfg.ProjectName != "terraform-provider-lab" {
		t.Fatalf("version %d, project_name %q", cfg.Version, cfg.ProjectName)
	}
	builds := map[string]int{}
	for i, b := range cfg.Builds {
		builds[b.ID] = i
		dir := filepath.Join("..", "..", filepath.FromSlash(b.Main))
		if !hasVersionVar(t, dir) {
			t.Errorf("build %s: %s declares no version variable for -X main.version", b.ID, b.Main)
		}
		if !slices.Contains(b.Env, "CGO_ENABLED=0") || !slices.Contains(b.Flags, "-trimpath") ||
			len(b.Ldflags) != 1 || !strings.Contains(b.Ldflags[0], "-X main.version={{ .Version }}") {
			t.Errorf("build %s: env %v, flags %v, ldflags %v: want a static, trimmed, version-stamped build", b.ID, b.Env, b.Flags, b.Ldflags)
		}
	}
	want := map[string]struct {
		main, binary string
		goos, goarch []string
		format       string
	}{
		"provider": {".", "{{ .ProjectName }}_v{{ .Version }}", []string{"linux", "darwin", "windows"}, []string{"amd64", "arm64"}, "zip"},
		"labd":     {"./server/cmd/labd", "labd", []string{"linux"}, []string{"amd64", "arm64"}, "tar.gz"},
	}
	for id, w := range want {
		i, ok := builds[id]
		if !ok {
			t.Errorf("no build %s", id)
			continue
		}
		b := cfg.Builds[i]
		if b.Main != w.main || b.Binary != w.binary || !slices.Equal(b.Goos, w.goos) || !slices.Equal(b.Goarch, w.goarch) {
			t.Errorf("build %s: main %q binary %q goos %v goarch %v; want %q %q %v %v", id, b.Main, b.Binary, b.Goos, b.Goarch, w.main, w.binary, w.goos, w.goarch)
		}
		found := false
		for _, a := range cfg.Archives {
			if slices.Equal(a.IDs, []string{id}) {
				found = true
				if !slices.Equal(a.Formats, []string{w.format}) {
					t.Errorf("archive of %s: formats %v, want %s", id, a.Formats, w.format)
				}
				for _, glob := range a.Files {
					if m, _ := filepath.Glob(filepath.Join("..", "..", glob)); len(m) == 0 {
						t.Errorf("archive of %s: files %q match nothing", id, glob)
					}
				}
			}
		}
		if !found {
			t.Errorf("no archive of build %s alone", id)
		}
	}
	for _, a := range cfg.Archives {
		if slices.Equal(a.IDs, []string{"provider"}) && a.NameTemplate != "{{ .ProjectName }}_{{ .Version }}_{{ .Os }}_{{ .Arch }}" {
			t.Errorf("provider archive name %q: the registry wants NAME_VERSION_OS_ARCH.zip", a.NameTemplate)
		}
	}

	// The registry manifest: in the checksums and the release, under the
	// name the registry looks for, and protocol 6 (terraform-plugin-framework).
	const manifestName = "{{ .ProjectName }}_{{ .Version }}_manifest.json"
	for where, files := range map[string][]extraFile{"checksum": cfg.Checksum.ExtraFiles, "release": cfg.Release.ExtraFiles} {
		if len(files) != 1 || files[0].Glob != "terraform-registry-manifest.json" || files[0].NameTemplate != manifestName {
			t.Errorf("%s extra_files %+v, want terraform-registry-manifest.json as %s", where, files, manifestName)
		}
	}
	var manifest struct {
		Version  int
		Metadata struct {
			ProtocolVersions []string `json:"protocol_versions"`
		}
	}
	if err := json.Unmarshal([]byte(repoFile(t, "terraform-registry-manifest.json")), &manifest); err != nil {
		t.Fatalf("terraform-registry-manifest.json: %v", err)
	}
	if manifest.Version != 1 || !slices.Equal(manifest.Metadata.ProtocolVersions, []string{"6.0"}) {
		t.Errorf("terraform-registry-manifest.json %+v, want version 1, protocol 6.0", manifest)
	}
	if cfg.Checksum.NameTemplate != "{{ .ProjectName }}_{{ .Version }}_SHA256SUMS" || cfg.Checksum.Algorithm != "sha256" {
		t.Errorf("checksum %+v, want NAME_VERSION_SHA256SUMS, sha256", cfg.Checksum)
	}
	if len(cfg.Signs) != 1 || cfg.Signs[0].Artifacts != "checksum" || !slices.Contains(cfg.Signs[0].Args, "--detach-sign") {
		t.Errorf("signs %+v, want a detached signature of the checksums", cfg.Signs)
	}

	// goreleaser's own validation, where it is installed.
	bin, err := exec.LookPath("goreleaser")
	if err != nil {
		t.Log("goreleaser not on PATH: its own check not run (go install github.com/goreleaser/goreleaser/v2@v2.15.1)")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "check", "--config", ".goreleaser.yaml")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("goreleaser check: %v\n%s", err, out)
	}
}
