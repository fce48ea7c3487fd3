package client

import (
	"cmp"
	"encoding/json"
	"mime"
	"net/http"
	"strings"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// codeForStatus is the code of an answer whose body names no known code,
// from the code table in internal/api. conflict is the code of a 409 (and
// of a proxy's 412): ECONFLICT, or EALREADYEXISTS for a create.
func codeForStatus(status int, conflict string) string {
	code := api.CodeForStatus(status)
	if code == api.ECONFLICT {
		code = cmp.Or(conflict, code)
	}
	return code
}

// decodeError turns an error answer into an *api.Error: from its RFC 7807
// body when there is one (the code from the problem's "code", else from
// the status), else from the status alone, so that a proxy's HTML error
// page still yields the right code.
func decodeError(resp *http.Response, body []byte, conflict string) *api.Error {
	e := &api.Error{Code: codeForStatus(resp.StatusCode, conflict)}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var p api.Problem
	if (ct == "application/problem+json" || ct == "application/json" || strings.HasSuffix(ct, "+json")) &&
		json.Unmarshal(body, &p) == nil {
		if api.KnownCode(p.Code) {
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
