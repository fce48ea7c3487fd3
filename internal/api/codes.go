package api

import "net/http"

// codes is the one table of error codes: adding a code is adding a row.
// The server answers a code with its Status (HTTPStatus); the client maps
// an answer whose body names no known code back from its status
// (CodeForStatus), where the row marked primary wins among the codes that
// share a status.
var codes = []struct {
	code    string
	status  int
	primary bool
}{
	{EBADREQUEST, http.StatusBadRequest, true},
	{EUNAUTHORIZED, http.StatusUnauthorized, true},
	{EFORBIDDEN, http.StatusForbidden, true},
	{ENOTFOUND, http.StatusNotFound, true},
	{EMETHODNOTALLOWED, http.StatusMethodNotAllowed, true},
	{ENOTACCEPTABLE, http.StatusNotAcceptable, true},
	{ECONFLICT, http.StatusConflict, true},
	{EALREADYEXISTS, http.StatusConflict, false},
	{EGONE, http.StatusGone, true},
	{ETOOLARGE, http.StatusRequestEntityTooLarge, true},
	{EUNSUPPORTED, http.StatusUnsupportedMediaType, true},
	{EINVALID, http.StatusUnprocessableEntity, true},
	{EPRECONDITION, http.StatusPreconditionRequired, true},
	{EINTERNAL, http.StatusInternalServerError, true},
	{EUNAVAILABLE, http.StatusServiceUnavailable, true},
	// A fenced write means this replica lost leadership mid-request:
	// another replica will answer a retry.
	{EFENCED, http.StatusServiceUnavailable, false},
}

// statusAliases are statuses no code of ours answers with that proxies and
// other servers do, and what they mean to a client.
var statusAliases = map[int]string{
	http.StatusPreconditionFailed: ECONFLICT,
	http.StatusTooManyRequests:    EUNAVAILABLE,
}

var (
	statusOf = map[string]int{}
	codeOf   = map[int]string{}
)

func init() {
	for _, c := range codes {
		statusOf[c.code] = c.status
		if c.primary {
			codeOf[c.status] = c.code
		}
	}
}

// Codes lists every code, in the table's order.
func Codes() []string {
	out := make([]string, len(codes))
	for i, c := range codes {
		out[i] = c.code
	}
	return out
}

// HTTPStatus is the status the server answers code with; an unknown code
// is a 500.
func HTTPStatus(code string) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Title is the problem title of code: the text of its status.
func Title(code string) string { return http.StatusText(HTTPStatus(code)) }

// KnownCode reports whether code is in the table, so that a client can
// trust a problem's "code" member.
func KnownCode(code string) bool {
	_, ok := statusOf[code]
	return ok
}

// CodeForStatus is the code of an answer whose body names none (a proxy's
// error page, an HTML 502): the primary code of status, else EBADREQUEST
// for any other 4xx and EINTERNAL for anything else.
func CodeForStatus(status int) string {
	if c, ok := codeOf[status]; ok {
		return c
	}
	if c, ok := statusAliases[status]; ok {
		return c
	}
	if status >= 400 && status < 500 {
		return EBADREQUEST
	}
	return EINTERNAL
}
