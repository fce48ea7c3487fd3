package api

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes. Code is what callers branch on; each has one HTTP status in
// the code table (codes.go), which the server's error mapper and the client
// both read, so the same errors.Is-style checks work on both sides of the
// wire.
const (
	EINVALID          = "invalid"               // 422: a field breaks a rule
	EBADREQUEST       = "bad_request"           // 400: the body or query cannot be read
	ENOTFOUND         = "not_found"             // 404
	EMETHODNOTALLOWED = "method_not_allowed"    // 405: only the router answers it
	EALREADYEXISTS    = "already_exists"        // 409: create of a taken name
	ECONFLICT         = "conflict"              // 409: stale version or phase forbids it
	EPRECONDITION     = "precondition_required" // 428: a replace without the version it expects
	EGONE             = "gone"                  // 410: the change log no longer reaches back that far
	ETOOLARGE         = "too_large"             // 413
	EUNSUPPORTED      = "unsupported"           // 415: content type
	ENOTACCEPTABLE    = "not_acceptable"        // 406: accept header
	EUNAUTHORIZED     = "unauthorized"          // 401
	EFORBIDDEN        = "forbidden"             // 403
	EUNAVAILABLE      = "unavailable"           // 503
	EFENCED           = "fenced"                // 503: a deposed leader tried to write
	EINTERNAL         = "internal"              // 500
)

// Error is an error whose message is safe to show to API users.
type Error struct {
	Code    string
	Message string
	// Fields lists the fields at fault for EINVALID.
	Fields []FieldError
}

// FieldError names one field at fault, by its path in the JSON form
// ("spec.duration_minutes", "metadata.labels[team]").
type FieldError struct {
	Field   string `json:"field" xml:"field"`
	Message string `json:"message" xml:"message"`
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return e.Message
	}
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	if e.Message == "" {
		return strings.Join(parts, "; ")
	}
	return e.Message + ": " + strings.Join(parts, "; ")
}

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, "" for nil
// and EINTERNAL for any other error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err: an *Error's own text,
// and a generic text for anything else, so internals never leak.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Error()
	}
	return "internal error"
}

// IsNotFound reports whether err is a not-found error.
func IsNotFound(err error) bool { return ErrorCode(err) == ENOTFOUND }

// IsConflict reports whether err is a version or phase conflict.
func IsConflict(err error) bool { return ErrorCode(err) == ECONFLICT }

// FieldErrors accumulates field errors during validation.
type FieldErrors []FieldError

// Add records a field error.
func (fe *FieldErrors) Add(field, format string, args ...any) {
	*fe = append(*fe, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns nil when there are no field errors, else an EINVALID *Error.
func (fe FieldErrors) Err() error {
	if len(fe) == 0 {
		return nil
	}
	return &Error{Code: EINVALID, Message: "validation failed", Fields: fe}
}
