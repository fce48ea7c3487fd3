package httpapi

import (
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/httpapi/codec"
)

const ctxOffer = "httpapi.offer"

// negotiate chooses the response format from Accept and remembers it for
// the response and any problem. It answers 406 itself and returns false when
// nothing offered is acceptable, before the handler does any work.
func (s *Server) negotiate(c *gin.Context, offers []codec.Offer) bool {
	o, ok := codec.Negotiate(c.GetHeader("Accept"), offers)
	if !ok {
		c.Set(ctxOffer, codec.Objects[0]) // the problem itself is JSON
		s.writeError(c, codec.NotAcceptable(c.GetHeader("Accept"), offers))
		return false
	}
	c.Set(ctxOffer, o)
	return true
}

// responseOffer is the negotiated offer, JSON if none was negotiated.
func responseOffer(c *gin.Context) codec.Offer {
	if v, ok := c.Get(ctxOffer); ok {
		return v.(codec.Offer)
	}
	return codec.Objects[0]
}

// problemFormat is the format of an error response: the negotiated one, or
// what Accept prefers, or JSON.
func problemFormat(c *gin.Context) codec.Format {
	if v, ok := c.Get(ctxOffer); ok {
		return v.(codec.Offer).Format
	}
	if o, ok := codec.Negotiate(c.GetHeader("Accept"), codec.Objects); ok {
		return o.Format
	}
	return codec.JSON
}

// respond writes v with status in the negotiated format.
func (s *Server) respond(c *gin.Context, status int, v any) {
	o := responseOffer(c)
	body, err := o.Format.Encode(v)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Data(status, o.ContentType(), body)
}

// respondLab writes one lab with its ETag, the version a later write may
// name in If-Match.
func (s *Server) respondLab(c *gin.Context, status int, l *api.LabInstanceRequest) {
	l.APIVersion, l.Kind = api.APIVersion, api.Kind
	c.Header("ETag", etag(l.Metadata.ResourceVersion))
	s.respond(c, status, l)
}

func etag(rv int64) string { return `"` + strconv.FormatInt(rv, 10) + `"` }

// readBody reads the request body, at most MaxBodyBytes of it, in a format
// of allowed (codec.Objects or codec.Patches) by its Content-Type.
func (s *Server) readBody(c *gin.Context, allowed []codec.Offer) (*codec.Body, error) {
	f, err := codec.BodyFormat(c.GetHeader("Content-Type"), allowed)
	if err != nil {
		return nil, err
	}
	raw, err := codec.ReadBody(c.Writer, c.Request, s.cfg.MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	return codec.NewBody(f, raw)
}
