package client

import (
	"cmp"
	"encoding/json"
	"mime"
	"net/http"
	"strings"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// knownCodes are the codes a problem's "code" member may carry.
var knownCodes = map[string]bool{
	api.EINVALID: true, api.EBADREQUEST: true, api.ENOTFOUND: true, api.EALREADYEXISTS: true,
	api.ECONFLICT: true, api.EPRECONDITION: true, api.EGONE: true, api.ETOOLARGE: true, api.EUNSUPPORTED: true,
	api.ENOTACCEPTABLE: true, api.EUNAUTHORIZED: true, api.EFORBIDDEN: true,
	api.EUNAVAILABLE: true, api.EFENCED: true, api.EINTERNAL: true,
}

// CodeForStatus maps an HTTP status to the error code the server uses for
// it, for answers whose body names none. conflict is the code of a 409
// (ECONFLICT, or EALREADYEXISTS for a create).
func CodeForStatus(status int, conflict string) string {
	switch status {
	case http.StatusBadRequest:
		return api.EBADREQUEST
	case http.StatusUnauthorized:
		return api.EUNAUTHORIZED
	case http.StatusForbidden:
		return api.EFORBIDDEN
	case http.StatusNotFound:
		return api.ENOTFOUND
	case http.StatusNotAcceptable:
		return api.ENOTACCEPTABLE
	case http.StatusConflict, http.StatusPreconditionFailed:
		return cmp.Or(conflict, api.ECONFLICT)
	case http.StatusPreconditionRequired:
		return api.EPRECONDITION
	case http.StatusGone:
		return api.EGONE
	case http.StatusRequestEntityTooLarge:
		return api.ETOOLARGE
	case http.StatusUnsupportedMediaType:
		return api.EUNSUPPORTED
	case http.StatusUnprocessableEntity:
		return api.EINVALID
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return api.EUNAVAILABLE
	}
	if status >= 400 && status < 500 {
		return api.EBADREQUEST
	}
	return api.EINTERNAL
}

// decodeError turns an error answer into an *api.Error: from its RFC 7807
// body when there is one (the code from the problem's "code", else from
// the status), else from the status alone, so that a proxy's HTML error
// page still yields the right code.
func decodeError(resp *http.Response, body []byte, conflict string) *api.Error {
	e := &api.Error{Code: CodeForStatus(resp.StatusCode, conflict)}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var p api.Problem
	if (ct == "application/problem+json" || ct == "application/json" || strings.HasSuffix(ct, "+json")) &&
		json.Unmarshal(body, &p) == nil {
		if knownCodes[p.Code] {
			e.Code = p.Code
		}
		e.Message = cmp.Or(p.Detail, p.Title)
		e.Fields = p.Errors
	}
	if e.Message == "" {
		e.Message = strings.ToLower(cmp.Or(http.StatusText(resp.StatusCode), "HTTP "+resp.Status))
		if e.Code == api.EINVALID && len(e.Fields) > 0 {
			e.Message = "validation failed"
		}
	}
	return e
}
