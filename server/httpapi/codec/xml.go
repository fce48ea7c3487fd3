package codec

import (
	"bytes"
	"cmp"
	"encoding"
	"encoding/xml"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// encoding/xml ignores elements the target lacks and keeps the last of
// repeated ones. decodeXML first walks the document's elements against the
// shape the target type's xml tags allow, naming every unknown or repeated
// element by its path, then lets encoding/xml decode it.

var (
	stringMapType = reflect.TypeFor[api.StringMap]()
	textUnmarsh   = reflect.TypeFor[encoding.TextUnmarshaler]()
	xmlUnmarsh    = reflect.TypeFor[xml.Unmarshaler]()
)

// xmlShape says which child elements an element may have.
type xmlShape struct {
	kind     shapeKind
	children map[string]xmlChild // for shapeObject
	// scalar, for shapeText, is the number or boolean type the text must
	// parse as (nil: any text): encoding/xml reports a bad one without
	// saying where, so the walk checks it and names the field.
	scalar reflect.Type
}

type xmlChild struct {
	shape    *xmlShape
	repeated bool // an element of a slice: it may appear more than once
}

type shapeKind int

const (
	shapeText   shapeKind = iota // character data only
	shapeObject                  // the named children
	shapeMap                     // <entry key="..."> children (api.StringMap)
	shapeAny                     // anything: a custom unmarshaler decides
)

var (
	textShape     = &xmlShape{kind: shapeText}
	xmlShapeCache sync.Map // reflect.Type -> *xmlShape
)

// shapeOf derives the element shape of t from its xml tags, following
// encoding/xml's rules for the subset the API types use: nested paths
// ("finalizers>finalizer"), repeated elements for slices, text for scalars
// and TextUnmarshalers.
func shapeOf(t reflect.Type) *xmlShape {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v, ok := xmlShapeCache.Load(t); ok {
		return v.(*xmlShape)
	}
	var s *xmlShape
	switch {
	case t == stringMapType:
		s = &xmlShape{kind: shapeMap}
	case reflect.PointerTo(t).Implements(xmlUnmarsh):
		s = &xmlShape{kind: shapeAny}
	case reflect.PointerTo(t).Implements(textUnmarsh):
		s = textShape
	case isList(t):
		s = shapeOf(t.Elem())
	case t.Kind() == reflect.Struct:
		s = &xmlShape{kind: shapeObject, children: map[string]xmlChild{}}
		for f := range t.Fields() {
			if !f.IsExported() || f.Name == "XMLName" {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("xml"), ",")
			if name == "-" {
				continue
			}
			if opts != "" && opts != "omitempty" {
				if strings.Contains(opts, "any") || strings.Contains(opts, "innerxml") {
					s.kind = shapeAny
				}
				continue // attributes, chardata, comments
			}
			parts := strings.Split(cmp.Or(name, f.Name), ">")
			node := s
			for _, p := range parts[:len(parts)-1] {
				next, ok := node.children[p]
				if !ok {
					next = xmlChild{shape: &xmlShape{kind: shapeObject, children: map[string]xmlChild{}}}
					node.children[p] = next
				}
				node = next.shape
			}
			node.children[parts[len(parts)-1]] = xmlChild{shape: shapeOf(f.Type), repeated: isList(f.Type)}
		}
	case isScalar(t.Kind()):
		s = &xmlShape{kind: shapeText, scalar: t}
	default:
		s = textShape
	}
	xmlShapeCache.Store(t, s)
	return s
}

// isList reports whether t is encoded as repeated elements.
func isList(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8
}

// decodeXML checks the element tree of body against v's type, then decodes
// it with encoding/xml.
func decodeXML(body []byte, v any) error {
	t := reflect.TypeOf(v).Elem()
	d := xml.NewDecoder(bytes.NewReader(body))
	start, err := xmlRoot(d)
	if err != nil {
		return err
	}
	if root := xmlRootName(t); root != "" && start.Name.Local != root {
		return api.Errorf(api.EBADREQUEST, "XML root element must be <%s>, not <%s>", root, start.Name.Local)
	}
	var fe api.FieldErrors
	if err := walkXML(d, shapeOf(t), "", &fe); err != nil {
		return xmlError(err)
	}
	if err := xmlTrailer(d); err != nil {
		return err
	}
	if len(fe) > 0 {
		return strictError(fe)
	}
	if err := xml.Unmarshal(body, v); err != nil {
		return xmlError(err)
	}
	return nil
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// walkXML reads the content of an element whose start was just read, up to
// its end, recording child elements its shape does not allow.
func walkXML(d *xml.Decoder, s *xmlShape, path string, fe *api.FieldErrors) error {
	seen := map[string]bool{}
	var text []byte
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if s.scalar != nil {
				text = append(text, t...)
			}
		case xml.StartElement:
			name := t.Name.Local
			p := joinPath(path, name)
			child := textShape
			switch s.kind {
			case shapeAny:
				if err := d.Skip(); err != nil {
					return err
				}
				continue
			case shapeMap:
				if name != "entry" {
					fe.Add(p, `unknown field; a map holds <entry key="...">value</entry> elements`)
					if err := d.Skip(); err != nil {
						return err
					}
					continue
				}
				key := xmlAttr(t, "key")
				p = path + "[" + key + "]"
				if seen[key] {
					fe.Add(p, "duplicate field")
				}
				seen[key] = true
			default:
				c, ok := s.children[name]
				if !ok {
					fe.Add(p, "unknown field")
					if err := d.Skip(); err != nil {
						return err
					}
					continue
				}
				if !c.repeated && seen[name] {
					fe.Add(p, "duplicate field")
				}
				seen[name] = true
				child = c.shape
			}
			if err := walkXML(d, child, p, fe); err != nil {
				return err
			}
		case xml.EndElement:
			if s.scalar != nil && !parsesAs(s.scalar, strings.TrimSpace(string(text))) {
				fe.Add(path, "must be %s, not %q", describeType(s.scalar), strings.TrimSpace(string(text)))
			}
			return nil
		}
	}
}

func isScalar(k reflect.Kind) bool {
	switch k {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// parsesAs reports whether encoding/xml can decode text into t (empty
// text is the zero value).
func parsesAs(t reflect.Type, text string) bool {
	if text == "" {
		return true
	}
	var err error
	switch t.Kind() {
	case reflect.Bool:
		_, err = strconv.ParseBool(text)
	case reflect.Float32, reflect.Float64:
		_, err = strconv.ParseFloat(text, t.Bits())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		_, err = strconv.ParseUint(text, 10, t.Bits())
	default:
		_, err = strconv.ParseInt(text, 10, t.Bits())
	}
	return err == nil
}

func xmlAttr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// xmlRootName is the root element a type's XMLName field names, "" if any.
func xmlRootName(t reflect.Type) string {
	f, ok := t.FieldByName("XMLName")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("xml"), ",")
	if i := strings.LastIndex(name, " "); i >= 0 {
		name = name[i+1:]
	}
	return name
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
				return xml.StartElement{}, api.Errorf(api.EBADREQUEST, "invalid XML: text before the root element")
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
			return api.Errorf(api.EBADREQUEST, "invalid XML: a second root element <%s>", t.Name.Local)
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return api.Errorf(api.EBADREQUEST, "invalid XML: text after the root element")
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
		return api.Errorf(api.EBADREQUEST, "invalid XML: unexpected end of input")
	}
	return api.Errorf(api.EBADREQUEST, "invalid XML: %v", err)
}

// xmlFields returns the names of the root element's children.
func xmlFields(body []byte) ([]string, error) {
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
