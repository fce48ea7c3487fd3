package api

import (
	"errors"
	"fmt"
)

// MaxProblemFields caps the field errors one problem lists, so that a body
// of thousands of bad keys does not get an answer larger than itself; the
// detail says how many were left out.
const MaxProblemFields = 100

// Problem is the RFC 7807 body of every error response.
type Problem struct {
	Type     string       `json:"type" xml:"type"`
	Title    string       `json:"title" xml:"title"`
	Status   int          `json:"status" xml:"status"`
	Detail   string       `json:"detail,omitempty" xml:"detail,omitempty"`
	Instance string       `json:"instance,omitempty" xml:"instance,omitempty"`
	Code     string       `json:"code,omitempty" xml:"code,omitempty"`
	Errors   []FieldError `json:"errors,omitempty" xml:"errors>error,omitempty"`
}

// NewProblem is the problem that answers err for the resource at instance:
// status and title from the code table, the *Error's own message and
// fields, and for any other error a bare "internal error", so that
// internals never leak.
func NewProblem(err error, instance string) Problem {
	code := ErrorCode(err)
	p := Problem{
		Type:     "about:blank",
		Title:    Title(code),
		Status:   HTTPStatus(code),
		Detail:   ErrorMessage(err),
		Instance: instance,
		Code:     code,
	}
	var e *Error
	if !errors.As(err, &e) {
		return p
	}
	p.Errors = e.Fields
	if n := len(e.Fields); n > MaxProblemFields {
		short := *e
		short.Fields = e.Fields[:MaxProblemFields]
		p.Errors = short.Fields
		p.Detail = fmt.Sprintf("%s (and %d more field errors)", short.Error(), n-MaxProblemFields)
	}
	return p
}
