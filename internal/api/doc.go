// Package api holds the wire types of the lab.labrm.io/v1 API and the rules
// every party agrees on: validation, defaulting, the phase state machine and
// the error model.
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
