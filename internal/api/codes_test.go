package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// allCodes lists every code constant; a code missing from the table (and so
// answered 500) fails here.
var allCodes = []string{EINVALID, EBADREQUEST, ENOTFOUND, EMETHODNOTALLOWED, EALREADYEXISTS, ECONFLICT,
	EPRECONDITION, EGONE, ETOOLARGE, EUNSUPPORTED, ENOTACCEPTABLE, EUNAUTHORIZED, EFORBIDDEN,
	EUNAVAILABLE, EFENCED, EINTERNAL}

func TestCodeTable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		code   string
		status int
		back   string // CodeForStatus(status)
	}{
		{EINVALID, 422, EINVALID},
		{EBADREQUEST, 400, EBADREQUEST},
		{ENOTFOUND, 404, ENOTFOUND},
		{EMETHODNOTALLOWED, 405, EMETHODNOTALLOWED},
		{EALREADYEXISTS, 409, ECONFLICT},
		{ECONFLICT, 409, ECONFLICT},
		{EPRECONDITION, 428, EPRECONDITION},
		{EGONE, 410, EGONE},
		{ETOOLARGE, 413, ETOOLARGE},
		{EUNSUPPORTED, 415, EUNSUPPORTED},
		{ENOTACCEPTABLE, 406, ENOTACCEPTABLE},
		{EUNAUTHORIZED, 401, EUNAUTHORIZED},
		{EFORBIDDEN, 403, EFORBIDDEN},
		{EUNAVAILABLE, 503, EUNAVAILABLE},
		{EFENCED, 503, EUNAVAILABLE},
		{EINTERNAL, 500, EINTERNAL},
		{"no_such_code", 500, EINTERNAL},
		{"", 500, EINTERNAL},
	}
	for _, tc := range cases {
		if got := HTTPStatus(tc.code); got != tc.status {
			t.Errorf("HTTPStatus(%q) = %d, want %d", tc.code, got, tc.status)
		}
		if got := CodeForStatus(tc.status); got != tc.back {
			t.Errorf("CodeForStatus(%d) = %q, want %q", tc.status, got, tc.back)
		}
		if got := Title(tc.code); got != http.StatusText(tc.status) {
			t.Errorf("Title(%q) = %q", tc.code, got)
		}
	}
	if len(cases) != len(allCodes)+2 {
		t.Errorf("%d cases for %d codes: a code has no case", len(cases)-2, len(allCodes))
	}
	for _, c := range allCodes {
		if !KnownCode(c) {
			t.Errorf("code %q is not in the table", c)
		}
	}
	if KnownCode("weird") || KnownCode("") {
		t.Error("unknown code reported known")
	}
	// Every status of the table maps back to a code that answers with it.
	for _, c := range allCodes {
		s := HTTPStatus(c)
		if back := CodeForStatus(s); HTTPStatus(back) != s {
			t.Errorf("CodeForStatus(%d) = %q, which answers %d", s, back, HTTPStatus(back))
		}
	}
	// Statuses of other servers.
	for status, want := range map[int]string{412: ECONFLICT, 429: EUNAVAILABLE, 418: EBADREQUEST, 499: EBADREQUEST,
		502: EINTERNAL, 504: EINTERNAL, 200: EINTERNAL, 301: EINTERNAL} {
		if got := CodeForStatus(status); got != want {
			t.Errorf("CodeForStatus(%d) = %q, want %q", status, got, want)
		}
	}
}

func TestNewProblem(t *testing.T) {
	t.Parallel()
	p := NewProblem(Errorf(ENOTFOUND, "lab default/x not found"), "/api/lab-instances/x")
	if p.Status != 404 || p.Title != "Not Found" || p.Code != ENOTFOUND || p.Detail != "lab default/x not found" ||
		p.Instance != "/api/lab-instances/x" || p.Type != "about:blank" || p.Errors != nil {
		t.Errorf("not found: %+v", p)
	}
	// Internals never leak.
	p = NewProblem(fmt.Errorf("insert lab: %w", errors.New("pq: password authentication failed")), "/x")
	if p.Status != 500 || p.Code != EINTERNAL || p.Detail != "internal error" || strings.Contains(p.Detail, "pq") {
		t.Errorf("internal: %+v", p)
	}
	// A wrapped *Error keeps its code, message and fields.
	var fe FieldErrors
	fe.Add("spec.duration_minutes", "must be between 1 and 480 minutes")
	p = NewProblem(fmt.Errorf("create: %w", fe.Err()), "/x")
	if p.Status != 422 || p.Code != EINVALID || len(p.Errors) != 1 || p.Errors[0].Field != "spec.duration_minutes" ||
		!strings.Contains(p.Detail, "spec.duration_minutes: must be") {
		t.Errorf("invalid: %+v", p)
	}
	// Many field errors are capped, in the list and in the detail.
	fe = nil
	for i := range MaxProblemFields + 250 {
		fe.Add(fmt.Sprintf("metadata.labels[k%d]", i), "unknown field")
	}
	p = NewProblem(&Error{Code: EBADREQUEST, Message: "unknown fields", Fields: fe}, "/x")
	if len(p.Errors) != MaxProblemFields || p.Errors[MaxProblemFields-1].Field != fmt.Sprintf("metadata.labels[k%d]", MaxProblemFields-1) {
		t.Errorf("capped to %d fields, last %+v", len(p.Errors), p.Errors[len(p.Errors)-1])
	}
	if !strings.HasSuffix(p.Detail, "(and 250 more field errors)") || strings.Contains(p.Detail, fmt.Sprintf("k%d:", MaxProblemFields)) {
		t.Errorf("capped detail: %.200s ... %s", p.Detail, p.Detail[max(0, len(p.Detail)-60):])
	}
}
