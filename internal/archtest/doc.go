// Package archtest holds the architecture tests: the import fences and
// seams that issue 8 drew, checked on every `go test ./...` so that they
// stay drawn.
//
// The rules are tables in arch_test.go:
//
//   - fences: which packages of this module may import a dependency
//     (pgx and GORM only in server/store, Gin only in server/httpapi, the
//     Docker client only in the Docker runtime, client-go only in the
//     Kubernetes runtime). A new engine or driver is one more row.
//   - testOnly: packages only test files may import (servertest, and
//     storetest, the only way to run raw SQL in a store transaction).
//   - sqlHome: where SQL text may appear in non-test code.
//
// Fences apply to non-test code, which is what ships in the binary: tests
// may reach past a seam to check it (pg_terminate_backend through pgx, a
// container through the Docker client).
//
// The package has no non-test code; this file exists to carry the doc.
package archtest
