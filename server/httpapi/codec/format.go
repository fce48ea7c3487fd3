package codec

import (
	"bytes"
	"encoding/json"
	"encoding/xml"

	"sigs.k8s.io/yaml"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// Format is a wire format. The zero value is JSON, the default.
type Format uint8

// The formats.
const (
	JSON Format = iota
	YAML
	XML
)

func (f Format) String() string {
	switch f {
	case YAML:
		return "yaml"
	case XML:
		return "xml"
	}
	return "json"
}

// Encode writes v in f.
func (f Format) Encode(v any) ([]byte, error) {
	switch f {
	case YAML:
		return yaml.Marshal(v)
	case XML:
		return encodeXML(v)
	}
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

// EncodeProblem writes p in f, in RFC 7807's XML form for XML.
func (f Format) EncodeProblem(p api.Problem) ([]byte, error) {
	if f == XML {
		return encodeXML(xmlProblem{Problem: p})
	}
	return f.Encode(p)
}

// ProblemType is the Content-Type of a problem in f. YAML has no
// registered problem type; the problem is plain YAML.
func (f Format) ProblemType() string {
	switch f {
	case YAML:
		return "application/yaml"
	case XML:
		return "application/problem+xml"
	}
	return "application/problem+json"
}
