package httpapi

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/gin-gonic/gin"
	"sigs.k8s.io/yaml"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// Content types of request bodies.
var (
	bodyTypes = map[string]*format{
		"application/json":   formatJSON,
		"application/yaml":   formatYAML,
		"application/x-yaml": formatYAML,
		"text/yaml":          formatYAML,
		"application/xml":    formatXML,
		"text/xml":           formatXML,
	}
	patchTypes = map[string]*format{
		"application/merge-patch+json": formatJSON,
		"application/json":             formatJSON,
		"application/yaml":             formatYAML,
		"application/x-yaml":           formatYAML,
		"text/yaml":                    formatYAML,
	}
)

// bodyFormat reads the request's Content-Type against the types allowed;
// a missing Content-Type means JSON.
func bodyFormat(c *gin.Context, allowed map[string]*format) (*format, error) {
	ct := c.GetHeader("Content-Type")
	if strings.TrimSpace(ct) == "" {
		return formatJSON, nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil, errorf(api.EUNSUPPORTED, "malformed Content-Type %q", ct)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return nil, errorf(api.EUNSUPPORTED, "unsupported charset %q: bodies must be UTF-8", cs)
	}
	if f, ok := allowed[mt]; ok {
		return f, nil
	}
	if mt == "application/json-patch+json" {
		return nil, errorf(api.EUNSUPPORTED, "JSON Patch (RFC 6902) is not supported; send a JSON merge patch (RFC 7396) as application/merge-patch+json")
	}
	names := make([]string, 0, len(allowed))
	for _, o := range objectOffers {
		if _, ok := allowed[o.mediaType]; ok {
			names = append(names, o.mediaType)
		}
	}
	if _, ok := allowed["application/merge-patch+json"]; ok {
		names = append([]string{"application/merge-patch+json"}, names...)
	}
	return nil, errorf(api.EUNSUPPORTED, "unsupported Content-Type %q; use one of %s", mt, strings.Join(names, ", "))
}

// readBody reads the whole body, at most MaxBodyBytes of it.
func (s *Server) readBody(c *gin.Context) ([]byte, error) {
	max := s.cfg.MaxBodyBytes
	if c.Request.ContentLength > max {
		return nil, tooLarge(max)
	}
	b, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, max))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, tooLarge(max)
	}
	if err != nil {
		return nil, errorf(api.EBADREQUEST, "read request body: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errorf(api.EBADREQUEST, "request body is empty")
	}
	return b, nil
}

func tooLarge(max int64) error {
	return errorf(api.ETOOLARGE, "request body exceeds %d bytes", max)
}

// toJSON converts a JSON or YAML body to JSON; XML has no generic form.
func toJSON(f *format, body []byte) ([]byte, error) {
	if f != formatYAML {
		return body, nil
	}
	j, err := yaml.YAMLToJSON(body)
	if err != nil {
		return nil, errorf(api.EBADREQUEST, "invalid YAML: %v", err)
	}
	return j, nil
}

// decodeStrict decodes body into v (a pointer to struct), rejecting fields
// v does not have with a 400 that names each of them, so a typo is not
// silently dropped.
func decodeStrict(f *format, body []byte, v any) error {
	if f == formatXML {
		return decodeXMLStrict(body, v)
	}
	j, err := toJSON(f, body)
	if err != nil {
		return err
	}
	return decodeJSONStrict(j, v)
}

// decodeGeneric parses a JSON document into maps, slices and json.Number.
func decodeGeneric(body []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, jsonError(err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errorf(api.EBADREQUEST, "invalid JSON: unexpected data after the top-level value")
	}
	return v, nil
}

func decodeJSONStrict(body []byte, v any) error {
	g, err := decodeGeneric(body)
	if err != nil {
		return err
	}
	if _, ok := g.(map[string]any); !ok {
		return errorf(api.EBADREQUEST, "request body must be an object")
	}
	var fe api.FieldErrors
	unknownJSON(g, reflect.TypeOf(v), "", &fe)
	if len(fe) > 0 {
		return &api.Error{Code: api.EBADREQUEST, Message: "unknown fields", Fields: fe}
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return jsonError(err)
	}
	return nil
}

// jsonError turns a decoding error into a 400 that names the field when it
// can; the messages of encoding/json hold only the client's own input.
func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return errorf(api.EBADREQUEST, "invalid JSON at byte %d: %v", se.Offset, se)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errorf(api.EBADREQUEST, "invalid JSON: unexpected end of input")
	case errors.As(err, &te) && te.Field != "":
		return fieldError(api.EBADREQUEST, te.Field, "must be "+describeType(te.Type)+", not "+te.Value)
	case errors.As(err, &te):
		return errorf(api.EBADREQUEST, "request body must be %s, not %s", describeType(te.Type), te.Value)
	}
	return errorf(api.EBADREQUEST, "cannot decode body: %v", err)
}

func describeType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return "an RFC 3339 time"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "an integer"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.Bool:
		return "a boolean"
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		return "an array"
	case t.Kind() == reflect.Map:
		if t.Elem().Kind() == reflect.String {
			return "an object of strings"
		}
		return "an object"
	case t.Kind() == reflect.Struct:
		return "an object"
	}
	return t.String()
}

// decodeXMLStrict checks the element tree of body against v's type, then
// decodes it with encoding/xml, which by itself ignores unknown elements.
func decodeXMLStrict(body []byte, v any) error {
	t := reflect.TypeOf(v).Elem()
	root := xmlRootName(t)
	d := xml.NewDecoder(bytes.NewReader(body))
	start, err := xmlRoot(d)
	if err != nil {
		return err
	}
	if root != "" && start.Name.Local != root {
		return errorf(api.EBADREQUEST, "XML root element must be <%s>, not <%s>", root, start.Name.Local)
	}
	var fe api.FieldErrors
	if err := walkXML(d, shapeOf(t), "", &fe); err != nil {
		return xmlError(err)
	}
	if err := xmlTrailer(d); err != nil {
		return err
	}
	if len(fe) > 0 {
		return &api.Error{Code: api.EBADREQUEST, Message: "unknown fields", Fields: fe}
	}
	if err := xml.Unmarshal(body, v); err != nil {
		return xmlError(err)
	}
	return nil
}

// xmlRoot reads up to the root element.
func xmlRoot(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.StartElement{}, xmlError(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return xml.StartElement{}, errorf(api.EBADREQUEST, "invalid XML: text before the root element")
			}
		}
	}
}

// xmlTrailer checks that only white space, comments and processing
// instructions follow the root element.
func xmlTrailer(d *xml.Decoder) error {
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return xmlError(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return errorf(api.EBADREQUEST, "invalid XML: a second root element <%s>", t.Name.Local)
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return errorf(api.EBADREQUEST, "invalid XML: text after the root element")
			}
		}
	}
}

func xmlError(err error) error {
	var ae *api.Error
	if errors.As(err, &ae) {
		return err
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return errorf(api.EBADREQUEST, "invalid XML: unexpected end of input")
	}
	return errorf(api.EBADREQUEST, "invalid XML: %v", err)
}

// topLevelFields returns the names of the body's top-level fields (keys of
// a JSON/YAML object, child elements of the XML root), to tell the two forms
// of a create apart.
func topLevelFields(f *format, body []byte) ([]string, error) {
	if f == formatXML {
		d := xml.NewDecoder(bytes.NewReader(body))
		if _, err := xmlRoot(d); err != nil {
			return nil, err
		}
		var names []string
		for {
			tok, err := d.Token()
			if err != nil {
				return nil, xmlError(err)
			}
			switch t := tok.(type) {
			case xml.StartElement:
				names = append(names, t.Name.Local)
				if err := d.Skip(); err != nil {
					return nil, xmlError(err)
				}
			case xml.EndElement:
				return names, nil
			}
		}
	}
	j, err := toJSON(f, body)
	if err != nil {
		return nil, err
	}
	g, err := decodeGeneric(j)
	if err != nil {
		return nil, err
	}
	m, ok := g.(map[string]any)
	if !ok {
		return nil, errorf(api.EBADREQUEST, "request body must be an object")
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	return names, nil
}
