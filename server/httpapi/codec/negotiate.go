package codec

import (
	"mime"
	"strconv"
	"strings"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// Offer is a media type the server reads or answers, and its format.
type Offer struct {
	MediaType string
	Format    Format
}

// ContentType is the Content-Type header of a response in o.
func (o Offer) ContentType() string {
	if strings.HasPrefix(o.MediaType, "text/") {
		return o.MediaType + "; charset=utf-8"
	}
	return o.MediaType
}

// Offers, in server preference order: on a tie the earlier one wins, so
// JSON is the default. They are shared: do not modify them.
var (
	// Objects are the types of lab objects, lists and problems, and of
	// create and replace bodies.
	Objects = []Offer{
		{"application/json", JSON},
		{"application/yaml", YAML},
		{"application/x-yaml", YAML},
		{"text/yaml", YAML},
		{"application/xml", XML},
		{"text/xml", XML},
	}
	// Status leaves out XML: health and readiness bodies hold maps, which
	// encoding/xml cannot write, and no probe asks for XML.
	Status = Objects[:4]
	// Patches are the types of a JSON merge patch: merge patches have no
	// XML form.
	Patches = append([]Offer{{"application/merge-patch+json", JSON}}, Objects[:4]...)
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

// Negotiate picks the offer an Accept header prefers (RFC 9110 12.5.1):
// each offer takes the q-value of the most specific range that matches it;
// the highest q wins, then the most specific range, then the earliest in
// the header, then the server's order. q=0 refuses an offer. An empty (or
// entirely malformed) header accepts anything. ok is false when nothing
// offered is acceptable.
func Negotiate(accept string, offers []Offer) (o Offer, ok bool) {
	ranges := parseAccept(accept)
	if len(ranges) == 0 {
		return offers[0], true
	}
	var (
		best      Offer
		found     bool
		bq        float64
		bspec, bp int
	)
	for _, o := range offers {
		typ, sub, _ := strings.Cut(o.MediaType, "/")
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

// NotAcceptable is the 406 for an Accept header that matches none of offers.
func NotAcceptable(accept string, offers []Offer) error {
	return api.Errorf(api.ENOTACCEPTABLE, "cannot answer with any type in Accept %q; available: %s", accept, mediaTypes(offers))
}

func mediaTypes(offers []Offer) string {
	names := make([]string, len(offers))
	for i, o := range offers {
		names[i] = o.MediaType
	}
	return strings.Join(names, ", ")
}
