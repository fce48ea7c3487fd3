package httpapi

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"mime"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"sigs.k8s.io/yaml"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// format is a wire format: how to encode a response and a problem in it.
// Decoding is in decode.go.
type format struct {
	name        string
	problemType string
	encode      func(v any) ([]byte, error)
}

var (
	formatJSON = &format{name: "json", problemType: "application/problem+json", encode: encodeJSON}
	formatYAML = &format{name: "yaml", problemType: "application/yaml", encode: yaml.Marshal}
	formatXML  = &format{name: "xml", problemType: "application/problem+xml", encode: encodeXML}

	// formats lists every format, the default first.
	formats = []*format{formatJSON, formatYAML, formatXML}
)

func encodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func encodeXML(v any) ([]byte, error) {
	b, err := xml.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(append([]byte(xml.Header), b...), '\n'), nil
}

// xmlProblem gives a problem the root element RFC 7807 appendix A defines.
type xmlProblem struct {
	XMLName xml.Name `xml:"urn:ietf:rfc:7807 problem"`
	api.Problem
}

func (f *format) encodeProblem(p api.Problem) ([]byte, error) {
	if f == formatXML {
		return encodeXML(xmlProblem{Problem: p})
	}
	return f.encode(p)
}

// offer is a media type the server can answer with.
type offer struct {
	mediaType string
	format    *format
}

// contentType is the Content-Type header of a response in o.
func (o offer) contentType() string {
	if strings.HasPrefix(o.mediaType, "text/") {
		return o.mediaType + "; charset=utf-8"
	}
	return o.mediaType
}

// Offers, in server preference order: on a tie the earlier one wins, so
// JSON is the default.
var (
	objectOffers = []offer{
		{"application/json", formatJSON},
		{"application/yaml", formatYAML},
		{"application/x-yaml", formatYAML},
		{"text/yaml", formatYAML},
		{"application/xml", formatXML},
		{"text/xml", formatXML},
	}
	// statusOffers leave out XML: health and readiness bodies hold maps,
	// which encoding/xml cannot write, and no probe asks for XML.
	statusOffers = objectOffers[:4]
)

// mediaRange is one element of an Accept header.
type mediaRange struct {
	typ, sub string
	q        float64
	pos      int
}

func parseAccept(header string) []mediaRange {
	var out []mediaRange
	for i, part := range strings.Split(header, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		mt, params, err := mime.ParseMediaType(part)
		if err != nil {
			continue // a malformed entry is ignored, as browsers do
		}
		typ, sub, ok := strings.Cut(mt, "/")
		if !ok {
			if mt != "*" {
				continue
			}
			typ, sub = "*", "*"
		}
		q := 1.0
		if s, ok := params["q"]; ok {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || v < 0 || v > 1 {
				continue
			}
			q = v
		}
		out = append(out, mediaRange{typ: typ, sub: sub, q: q, pos: i})
	}
	return out
}

// negotiate picks the offer the Accept header prefers: the highest q-value,
// then the most specific range, then the earliest in the header, then the
// server's order. An empty (or entirely malformed) header accepts anything.
func negotiate(header string, offers []offer) (offer, bool) {
	ranges := parseAccept(header)
	if len(ranges) == 0 {
		return offers[0], true
	}
	var (
		best      offer
		found     bool
		bq        float64
		bspec, bp int
	)
	for _, o := range offers {
		typ, sub, _ := strings.Cut(o.mediaType, "/")
		q, spec, pos := -1.0, -1, 0
		for _, r := range ranges {
			s := -1
			switch {
			case r.typ == typ && r.sub == sub:
				s = 2
			case r.typ == typ && r.sub == "*":
				s = 1
			case r.typ == "*" && r.sub == "*":
				s = 0
			}
			if s > spec {
				q, spec, pos = r.q, s, r.pos
			}
		}
		if q <= 0 {
			continue
		}
		if !found || q > bq || (q == bq && (spec > bspec || (spec == bspec && pos < bp))) {
			best, found, bq, bspec, bp = o, true, q, spec, pos
		}
	}
	return best, found
}

const ctxOffer = "httpapi.offer"

// negotiate chooses the response format from Accept and remembers it for
// the response and any problem. It answers 406 itself and returns false when
// nothing offered is acceptable, before the handler does any work.
func (s *Server) negotiate(c *gin.Context, offers []offer) bool {
	o, ok := negotiate(c.GetHeader("Accept"), offers)
	if !ok {
		names := make([]string, len(offers))
		for i, o := range offers {
			names[i] = o.mediaType
		}
		c.Set(ctxOffer, objectOffers[0]) // the problem itself is JSON
		s.writeError(c, errorf(api.ENOTACCEPTABLE, "cannot answer with any type in Accept %q; available: %s",
			c.GetHeader("Accept"), strings.Join(names, ", ")))
		return false
	}
	c.Set(ctxOffer, o)
	return true
}

// responseOffer is the negotiated offer, JSON if none was negotiated.
func responseOffer(c *gin.Context) offer {
	if v, ok := c.Get(ctxOffer); ok {
		return v.(offer)
	}
	return objectOffers[0]
}

// problemFormat is the format of an error response: the negotiated one, or
// what Accept prefers, or JSON.
func problemFormat(c *gin.Context) *format {
	if v, ok := c.Get(ctxOffer); ok {
		return v.(offer).format
	}
	if o, ok := negotiate(c.GetHeader("Accept"), objectOffers); ok {
		return o.format
	}
	return formatJSON
}

// respond writes v with status in the negotiated format.
func (s *Server) respond(c *gin.Context, status int, v any) {
	o := responseOffer(c)
	body, err := o.format.encode(v)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Data(status, o.contentType(), body)
}

// respondLab writes one lab with its ETag, the version a later write may
// name in If-Match.
func (s *Server) respondLab(c *gin.Context, status int, l *api.LabInstanceRequest) {
	l.APIVersion, l.Kind = api.APIVersion, api.Kind
	c.Header("ETag", etag(l.Metadata.ResourceVersion))
	s.respond(c, status, l)
}

func etag(rv int64) string { return `"` + strconv.FormatInt(rv, 10) + `"` }
