// Package api holds the wire types of the lab.labrm.io/v1 API and the rules
// every party agrees on: validation, defaulting, the phase state machine and
// the error model.
//
// The rules are pure functions, table-tested here, that the HTTP handlers
// and the store call rather than restate: PrepareCreate (server-owned fields
// cleared, defaults, validation; the API and the store both run it),
// ApplyReplace and PrepareMergePatch/ApplyMergePatch (a PUT or a merge patch
// onto the stored lab, keeping what the server owns, enforcing
// immutability), RequestStart and RequestStop (the phase a start or stop
// needs), and the error codes' one table (codes.go: code to HTTP status and
// title, status back to code for the client), which NewProblem turns into
// the RFC 7807 body of every error.
//
// It depends on the standard library only, so that the server, the typed
// client and the Terraform provider validate with the same code: a plan that
// passes the provider's checks is not rejected by the server for a reason the
// provider could have known.
//
// The shape follows Kubernetes: metadata identifies and versions the object,
// spec is the desired state written by users, status is the observed state
// written only by the controller. Field names are snake_case on every wire
// format (JSON, YAML, XML).
package api
