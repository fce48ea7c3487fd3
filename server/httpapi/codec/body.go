package codec

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// BodyFormat is the format of a request body with Content-Type header ct,
// one of allowed (Objects or Patches), or a 415. A body without a
// Content-Type is taken as JSON, what curl users mean; a charset other than
// UTF-8 is refused.
func BodyFormat(ct string, allowed []Offer) (Format, error) {
	if strings.TrimSpace(ct) == "" {
		return JSON, nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return 0, api.Errorf(api.EUNSUPPORTED, "malformed Content-Type %q", ct)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return 0, api.Errorf(api.EUNSUPPORTED, "unsupported charset %q: bodies must be UTF-8", cs)
	}
	for _, o := range allowed {
		if o.MediaType == mt {
			return o.Format, nil
		}
	}
	if mt == "application/json-patch+json" {
		return 0, api.Errorf(api.EUNSUPPORTED, "JSON Patch (RFC 6902) is not supported; send a JSON merge patch (RFC 7396) as application/merge-patch+json")
	}
	return 0, api.Errorf(api.EUNSUPPORTED, "unsupported Content-Type %q; use one of %s", mt, mediaTypes(allowed))
}

// ReadBody reads r's whole body, at most max bytes of it: a larger one is
// a 413, whether its Content-Length says so up front or it turns out
// larger while read. An empty body is a 400. w is told to close the
// connection after a body that was too large.
func ReadBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	if r.ContentLength > max {
		return nil, tooLarge(max)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, tooLarge(max)
	}
	if err != nil {
		return nil, api.Errorf(api.EBADREQUEST, "read request body: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, api.Errorf(api.EBADREQUEST, "request body is empty")
	}
	return b, nil
}

func tooLarge(max int64) error {
	return api.Errorf(api.ETOOLARGE, "request body exceeds %d bytes", max)
}
