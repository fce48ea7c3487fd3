package codec

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	yamlv2 "go.yaml.in/yaml/v2"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// Body is a request body ready to be decoded. A YAML body is held as the
// JSON it converts to, so that JSON and YAML are decoded, and checked, by
// the same strict JSON decoder.
type Body struct {
	format Format
	data   []byte // JSON for JSON and YAML bodies, the document for XML
}

// NewBody prepares raw, a body in format f. A YAML body must be one
// document without duplicate keys: YAML decoders keep the last of two
// equal keys and ignore later documents, which would drop part of what the
// client sent without a word.
func NewBody(f Format, raw []byte) (*Body, error) {
	if f != YAML {
		return &Body{format: f, data: raw}, nil
	}
	if err := oneDocument(raw); err != nil {
		return nil, err
	}
	j, err := yaml.YAMLToJSONStrict(raw)
	if isDuplicateKey(err) {
		// Decoded strictly below, the duplicates are named by path.
		if dup, derr := yamlKeepingDuplicates(raw); derr == nil {
			j, err = dup, nil
		}
	}
	if err != nil {
		return nil, yamlError(err)
	}
	return &Body{format: f, data: j}, nil
}

// oneDocument refuses a YAML stream of more than one document; empty
// documents (a trailing "---") do not count.
func oneDocument(raw []byte) error {
	d := yamlv2.NewDecoder(bytes.NewReader(raw))
	for n := 0; ; {
		var doc any
		err := d.Decode(&doc)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return yamlError(err)
		}
		if doc == nil {
			continue
		}
		if n++; n > 1 {
			return api.Errorf(api.EBADREQUEST, "invalid YAML: the body holds several documents; send one (without \"---\" between documents)")
		}
	}
}

func yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.ReplaceAll(strings.TrimPrefix(msg, "unmarshal errors:\n  "), "\n  ", "; ")
	msg = strings.ReplaceAll(msg, "already set in map", "given twice")
	return api.Errorf(api.EBADREQUEST, "invalid YAML: %s", msg)
}

// Decode decodes the body into v, a pointer to a struct, strictly: a field
// v has no place for, or a field given twice, is a 400 that names each by
// its path, so that a typo is not silently dropped; a value of the wrong
// type is a 400 naming its field.
func (b *Body) Decode(v any) error {
	if b.format == XML {
		return decodeXML(b.data, v)
	}
	return decodeJSON(b.data, v)
}

// Fields returns the names of the body's top-level fields: the keys of a
// JSON or YAML object, the child elements of the XML root.
func (b *Body) Fields() ([]string, error) {
	if b.format == XML {
		return xmlFields(b.data)
	}
	var m map[string]json.RawMessage
	if err := decodeJSON(b.data, &m); err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(m)), nil
}

// MergePatch decodes a JSON merge patch (RFC 7396) into generic values, to
// be merged into the JSON form of the patched object. Its field names and
// the types of its values are checked against target, a pointer to the
// patched type, as Decode checks them; null, which deletes, is allowed
// anywhere. Numbers are int64 when whole, else float64.
func (b *Body) MergePatch(target any) (map[string]any, error) {
	if b.format == XML {
		return nil, api.Errorf(api.EUNSUPPORTED, "a merge patch has no XML form")
	}
	if !isObject(b.data) && json.Valid(b.data) {
		return nil, api.Errorf(api.EBADREQUEST, "a merge patch must be an object")
	}
	var patch map[string]any
	if err := decodeJSON(b.data, &patch); err != nil {
		return nil, err
	}
	if err := decodeJSON(b.data, target); err != nil {
		return nil, err
	}
	return patch, nil
}

// decodeJSON is the one strict JSON decoder: one value, an object, with
// no unknown or repeated field (sigs.k8s.io/json reports every one, and
// at most 100, with its path).
func decodeJSON(data []byte, v any) error {
	strict, err := kjson.UnmarshalStrict(data, v)
	if err != nil {
		return jsonError(err)
	}
	if !isObject(data) {
		return api.Errorf(api.EBADREQUEST, "request body must be an object")
	}
	if len(strict) == 0 {
		return nil
	}
	t := reflect.TypeOf(v)
	fe := make(api.FieldErrors, 0, len(strict))
	for _, err := range strict {
		var path, msg string
		if f, ok := err.(kjson.FieldError); ok {
			path = f.FieldPath()
			msg = strings.TrimSuffix(err.Error(), " "+strconv.Quote(path))
		} else {
			msg = err.Error()
		}
		fe = append(fe, api.FieldError{Field: fieldPath(t, path), Message: msg})
	}
	err = strictError(fe)
	if len(strict) >= maxStrictErrors {
		e := err.(*api.Error)
		e.Message += fmt.Sprintf(" (the first %d: the decoder stops there)", maxStrictErrors)
	}
	return err
}

// maxStrictErrors is where sigs.k8s.io/json stops collecting strict errors.
const maxStrictErrors = 100

// strictError is the 400 for fields a body may not have, whatever its
// format.
func strictError(fe api.FieldErrors) error {
	var unknown, duplicate, typed bool
	for _, f := range fe {
		switch {
		case strings.HasPrefix(f.Message, "duplicate"):
			duplicate = true
		case strings.HasPrefix(f.Message, "must be"): // XML text of the wrong type
			typed = true
		default:
			unknown = true
		}
	}
	msg := "unknown fields"
	switch {
	case typed:
		msg = "invalid fields"
	case unknown && duplicate:
		msg = "unknown and duplicate fields"
	case duplicate:
		msg = "duplicate fields"
	}
	return &api.Error{Code: api.EBADREQUEST, Message: msg, Fields: fe}
}

func isObject(data []byte) bool {
	data = bytes.TrimLeft(data, " \t\r\n")
	return len(data) > 0 && data[0] == '{'
}

// jsonError turns a decoding error into a 400 that names the field when it
// can; the messages quote only the client's own input.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if isSyntax, off := kjson.SyntaxErrorOffset(err); isSyntax {
		return api.Errorf(api.EBADREQUEST, "invalid JSON at byte %d: %v", off, err)
	}
	switch {
	case errors.As(err, &te) && te.Field != "":
		return &api.Error{Code: api.EBADREQUEST, Fields: []api.FieldError{{Field: te.Field, Message: "must be " + describeType(te.Type) + ", not " + te.Value}}}
	case errors.As(err, &te):
		return api.Errorf(api.EBADREQUEST, "request body must be %s, not %s", describeType(te.Type), te.Value)
	}
	return api.Errorf(api.EBADREQUEST, "cannot decode body: %v", err)
}

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
)

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

// fieldPath rewrites a path as sigs.k8s.io/json spells it, which joins
// struct fields and map keys alike with dots ("metadata.labels.team"),
// into the API's form, in which map keys are bracketed
// ("metadata.labels[team]"), by following it through t. A key may hold
// dots itself ("app.kubernetes.io/name"): the key of a map of scalars is
// the rest of the path.
func fieldPath(t reflect.Type, p string) string {
	var out strings.Builder
	dot := func() {
		if out.Len() > 0 {
			out.WriteByte('.')
		}
	}
	for p != "" {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Struct:
			name := p[:segment(p)]
			dot()
			out.WriteString(name)
			p = strings.TrimPrefix(p[len(name):], ".")
			ft, ok := jsonField(t, name)
			if !ok {
				if p != "" {
					out.WriteString("." + p)
				}
				return out.String()
			}
			t = ft
		case reflect.Slice, reflect.Array:
			end := strings.IndexByte(p, ']')
			if !strings.HasPrefix(p, "[") || end < 0 {
				dot()
				return out.String() + p
			}
			out.WriteString(p[:end+1])
			p = strings.TrimPrefix(p[end+1:], ".")
			t = t.Elem()
		case reflect.Map:
			if t.Elem().Kind() == reflect.Interface || t.Elem() == rawType {
				dot() // a generic document: its keys are field names
				return out.String() + p
			}
			key := p
			switch t.Elem().Kind() {
			case reflect.Struct, reflect.Map, reflect.Slice, reflect.Pointer, reflect.Interface:
				key = p[:segment(p)]
			}
			out.WriteString("[" + key + "]")
			p = strings.TrimPrefix(p[len(key):], ".")
			t = t.Elem()
		default:
			dot()
			return out.String() + p
		}
	}
	return out.String()
}

// segment is the length of p's first name: up to a '.' or '['.
func segment(p string) int {
	if i := strings.IndexAny(p, ".["); i >= 0 {
		return i
	}
	return len(p)
}

// jsonField is the type of t's field with JSON name name.
func jsonField(t reflect.Type, name string) (reflect.Type, bool) {
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		n, _, _ := strings.Cut(tag, ",")
		switch {
		case !f.IsExported() || tag == "-":
			continue
		case f.Anonymous && n == "" && f.Type.Kind() == reflect.Struct:
			if ft, ok := jsonField(f.Type, name); ok {
				return ft, true
			}
		case cmp.Or(n, f.Name) == name:
			return f.Type, true
		}
	}
	return nil, false
}
