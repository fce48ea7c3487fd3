package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A fence names dependencies and the only packages of this module whose
// non-test code may import them. Paths are subtrees: "server/store" is the
// package and everything below it; a dependency "github.com/jackc/pgx"
// matches github.com/jackc/pgx/v5 and its subpackages.
type fence struct {
	deps []string // import paths outside the module
	only []string // module-relative package subtrees allowed to import them
	why  string
}

var fences = []fence{
	{
		deps: []string{"github.com/jackc/pgx"},
		only: []string{"server/store", "server/servertest"},
		why:  "all SQL lives in the store; servertest creates and drops test databases",
	},
	{
		deps: []string{"gorm.io", "github.com/glebarez/sqlite"},
		only: []string{"server/store"},
		why:  "GORM is the store's implementation detail",
	},
	{
		deps: []string{"github.com/gin-gonic"},
		only: []string{"server/httpapi"},
		why:  "HTTP routing stays in the HTTP adapter",
	},
	{
		deps: []string{"github.com/docker"},
		only: []string{"server/docker", "server/servertest"},
		why:  "the Docker engine is one runtime behind the controller's workload interface",
	},
	{
		// servertest/kubetest drives the test cluster for the tests.
		deps: []string{"k8s.io/client-go", "k8s.io/api", "k8s.io/apimachinery"},
		only: []string{"server/kubernetes", "server/servertest"},
		why:  "Kubernetes is one runtime behind the controller's workload interface",
	},
}

// testOnly packages may be imported by test files only, or by one another.
// storetest is the only door to raw SQL in a store transaction
// (storetest.Raw, storetest.Exec); keeping it out of non-test code is what
// makes those test-only.
var testOnly = []string{"server/servertest", "server/store/storetest", "internal/archtest"}

// sqlHome is where SQL text may appear in non-test code.
var sqlHome = []string{"server/store", "server/servertest"}

// sqlText matches string literals that read as SQL statements or call
// PostgreSQL's functions. Upper-case keywords only, so that log messages
// and HTTP methods do not match.
var sqlText = regexp.MustCompile(`\bSELECT\b[\s\S]*\bFROM\b|\bSELECT\s+(pg_|EXISTS\b|1\b)|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b|\b(CREATE|ALTER|DROP)\s+(TABLE|INDEX|DATABASE)\b|\bpg_[a-z_]+\s*\(`)

// pkg is what go list tells about one package of the module.
type pkg struct {
	ImportPath   string
	Dir          string
	GoFiles      []string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Module       *struct{ Path string }
}

// under reports whether path is root or below it.
func under(path, root string) bool {
	return path == root || strings.HasPrefix(path, root+"/")
}

func underAny(path string, roots []string) bool {
	return slices.ContainsFunc(roots, func(r string) bool { return under(path, r) })
}

// listModule runs go list over the whole module.
func listModule(t *testing.T) (module string, pkgs []pkg) {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Dir,GoFiles,Imports,TestImports,XTestImports,Module", "./...")
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(out)))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	dec := json.NewDecoder(bytes.NewReader(stdout))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		if p.Module == nil {
			t.Fatalf("package %s has no module", p.ImportPath)
		}
		module = p.Module.Path
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages; is the module root right (%s)?", len(pkgs), cmd.Dir)
	}
	return module, pkgs
}

// rel is a package's path inside the module ("." for the root).
func rel(module, importPath string) string {
	if importPath == module {
		return "."
	}
	return strings.TrimPrefix(importPath, module+"/")
}

// importViolations checks the fences and the test-only packages.
func importViolations(module string, pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		from := rel(module, p.ImportPath)
		for _, imp := range p.Imports {
			for _, f := range fences {
				if underAny(imp, f.deps) && !underAny(from, f.only) {
					out = append(out, fmt.Sprintf("%s imports %s; only %s may (%s)", from, imp, strings.Join(f.only, ", "), f.why))
				}
			}
			if under(imp, module) {
				to := rel(module, imp)
				if underAny(to, testOnly) && !underAny(from, testOnly) {
					out = append(out, fmt.Sprintf("%s imports the test-only package %s in non-test code", from, to))
				}
			}
		}
	}
	return out
}

// sqlViolations finds SQL text in non-test code outside sqlHome.
func sqlViolations(t *testing.T, module string, pkgs []pkg) []string {
	t.Helper()
	var out []string
	fset := token.NewFileSet()
	for _, p := range pkgs {
		if underAny(rel(module, p.ImportPath), sqlHome) {
			continue
		}
		for _, name := range p.GoFiles {
			path := filepath.Join(p.Dir, name)
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatalf("parse %s: %v", path, err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				lit, ok := n.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				s, err := strconv.Unquote(lit.Value)
				if err == nil && sqlText.MatchString(s) {
					pos := fset.Position(lit.Pos())
					out = append(out, fmt.Sprintf("%s/%s:%d: SQL outside the store: %.60q", rel(module, p.ImportPath), name, pos.Line, s))
				}
				return true
			})
		}
	}
	return out
}

// TestImportFences fails when a package imports a dependency its seam
// does not own, or non-test code imports a test-only package.
func TestImportFences(t *testing.T) {
	t.Parallel()
	module, pkgs := listModule(t)
	for _, v := range importViolations(module, pkgs) {
		t.Error(v)
	}
	// The fences must bite: each names at least one package the module
	// has, or the row is stale (a renamed package would silently lift it).
	for _, f := range fences {
		if !slices.ContainsFunc(pkgs, func(p pkg) bool { return underAny(rel(module, p.ImportPath), f.only) }) {
			t.Errorf("fence for %v allows only %v, and none of them exists", f.deps, f.only)
		}
	}
}

// TestNoSQLOutsideStore fails when non-test code outside the store holds
// SQL text.
func TestNoSQLOutsideStore(t *testing.T) {
	t.Parallel()
	module, pkgs := listModule(t)
	for _, v := range sqlViolations(t, module, pkgs) {
		t.Error(v)
	}
}

// TestRulesCatchViolations runs the checks on made-up packages, so that a
// rule that matches nothing cannot pass unnoticed.
func TestRulesCatchViolations(t *testing.T) {
	t.Parallel()
	const m = "example.com/m"
	for _, tc := range []struct {
		name string
		p    pkg
		want string // "" means no violation
	}{
		{"pgx in leader", pkg{ImportPath: m + "/server/leader", Imports: []string{"github.com/jackc/pgx/v5"}}, "server/leader imports github.com/jackc/pgx/v5"},
		{"pgx in store", pkg{ImportPath: m + "/server/store", Imports: []string{"github.com/jackc/pgx/v5"}}, ""},
		{"pgx in a leader test", pkg{ImportPath: m + "/server/leader", TestImports: []string{"github.com/jackc/pgx/v5"}}, ""},
		{"gorm in outbox", pkg{ImportPath: m + "/server/outbox", Imports: []string{"gorm.io/gorm/clause"}}, "server/outbox imports gorm.io/gorm/clause"},
		{"gin in httpapi subpackage", pkg{ImportPath: m + "/server/httpapi/openapi", Imports: []string{"github.com/gin-gonic/gin"}}, ""},
		{"gin in server", pkg{ImportPath: m + "/server", Imports: []string{"github.com/gin-gonic/gin"}}, "server imports github.com/gin-gonic/gin"},
		{"docker client in reconcile", pkg{ImportPath: m + "/server/reconcile", Imports: []string{"github.com/docker/docker/client"}}, "server/reconcile imports github.com/docker/docker/client"},
		{"docker client in server/docker", pkg{ImportPath: m + "/server/docker", Imports: []string{"github.com/docker/docker/client"}}, ""},
		{"client-go in reconcile", pkg{ImportPath: m + "/server/reconcile", Imports: []string{"k8s.io/client-go/kubernetes"}}, "server/reconcile imports k8s.io/client-go/kubernetes"},
		{"sigs.k8s.io/yaml is not client-go", pkg{ImportPath: m + "/server/httpapi", Imports: []string{"sigs.k8s.io/yaml"}}, ""},
		{"storetest in product code", pkg{ImportPath: m + "/server/outbox", Imports: []string{m + "/server/store/storetest"}}, "server/outbox imports the test-only package server/store/storetest"},
		{"storetest in a test", pkg{ImportPath: m + "/server/outbox", XTestImports: []string{m + "/server/store/storetest"}}, ""},
		{"storetest in servertest", pkg{ImportPath: m + "/server/servertest", Imports: []string{m + "/server/store/storetest"}}, ""},
		{"servertest in cmd", pkg{ImportPath: m + "/server/cmd/labd", Imports: []string{m + "/server/servertest"}}, "server/cmd/labd imports the test-only package server/servertest"},
	} {
		got := importViolations(m, []pkg{tc.p})
		switch {
		case tc.want == "" && len(got) != 0:
			t.Errorf("%s: unexpected violations %q", tc.name, got)
		case tc.want != "" && (len(got) != 1 || !strings.HasPrefix(got[0], tc.want)):
			t.Errorf("%s: violations %q, want one starting %q", tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct {
		lit  string
		want bool
	}{
		{"SELECT pg_try_advisory_lock($1, $2), pg_backend_pid()", true},
		{"SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory')", true},
		{"UPDATE leader_term SET epoch = epoch + 1", true},
		{"DELETE FROM outbox WHERE position <= ?", true},
		{"INSERT INTO handled (event_id) VALUES (?)", true},
		{"DELETE", false},
		{"update lab status", false},
		{"select a phase from the list", false},
		{"stopped leading", false},
	} {
		if got := sqlText.MatchString(tc.lit); got != tc.want {
			t.Errorf("sqlText.MatchString(%q) = %v, want %v", tc.lit, got, tc.want)
		}
	}
}
