package httpapi

import (
	"encoding"
	"encoding/xml"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// Strict decoding: the standard decoders drop fields the target lacks
// (encoding/json reports only the first, without its path, and matches
// names case-insensitively; encoding/xml says nothing). These walkers compare
// a document with the target type and name every unknown field by its full
// path, case-sensitively.

var (
	timeType      = reflect.TypeFor[time.Time]()
	stringMapType = reflect.TypeFor[api.StringMap]()
	textUnmarsh   = reflect.TypeFor[encoding.TextUnmarshaler]()
	xmlUnmarsh    = reflect.TypeFor[xml.Unmarshaler]()
)

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// unknownJSON records the fields of the generic document v that type t has
// no place for. Type mismatches are left to the decoder, which reports them.
func unknownJSON(v any, t reflect.Type, path string, fe *api.FieldErrors) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil || t == timeType {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		fields := jsonFields(t)
		for _, k := range slices.Sorted(maps.Keys(m)) {
			ft, ok := fields[k]
			if !ok {
				fe.Add(joinPath(path, k), "unknown field")
				continue
			}
			unknownJSON(m[k], ft, joinPath(path, k), fe)
		}
	case reflect.Slice, reflect.Array:
		s, _ := v.([]any)
		for i, e := range s {
			unknownJSON(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), fe)
		}
	case reflect.Map:
		m, _ := v.(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(m)) {
			unknownJSON(m[k], t.Elem(), path+"["+k+"]", fe)
		}
	}
}

var jsonFieldCache sync.Map // reflect.Type -> map[string]reflect.Type

// jsonFields maps a struct's JSON names to field types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if v, ok := jsonFieldCache.Load(t); ok {
		return v.(map[string]reflect.Type)
	}
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if tag == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			maps.Copy(out, jsonFields(f.Type))
			continue
		}
		out[cmpOr(name, f.Name)] = f.Type
	}
	jsonFieldCache.Store(t, out)
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// xmlShape says which child elements an element may have.
type xmlShape struct {
	kind     shapeKind
	children map[string]*xmlShape // for shapeObject
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
	case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8:
		s = shapeOf(t.Elem())
	case t.Kind() == reflect.Struct:
		s = &xmlShape{kind: shapeObject, children: map[string]*xmlShape{}}
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
			parts := strings.Split(cmpOr(name, f.Name), ">")
			node := s
			for _, p := range parts[:len(parts)-1] {
				next, ok := node.children[p]
				if !ok {
					next = &xmlShape{kind: shapeObject, children: map[string]*xmlShape{}}
					node.children[p] = next
				}
				node = next
			}
			node.children[parts[len(parts)-1]] = shapeOf(f.Type)
		}
	default:
		s = textShape
	}
	xmlShapeCache.Store(t, s)
	return s
}

// walkXML reads the content of an element whose start was just read, up to
// its end, recording child elements its shape does not allow.
func walkXML(d *xml.Decoder, s *xmlShape, path string, fe *api.FieldErrors) error {
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			p := joinPath(path, t.Name.Local)
			var child *xmlShape
			switch s.kind {
			case shapeObject:
				child = s.children[t.Name.Local]
			case shapeMap:
				if t.Name.Local == "entry" {
					child = textShape
				} else {
					fe.Add(p, `unknown field; a map holds <entry key="...">value</entry> elements`)
					if err := d.Skip(); err != nil {
						return err
					}
					continue
				}
			case shapeAny:
				if err := d.Skip(); err != nil {
					return err
				}
				continue
			}
			if child == nil {
				fe.Add(p, "unknown field")
				if err := d.Skip(); err != nil {
					return err
				}
				continue
			}
			if err := walkXML(d, child, p, fe); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		}
	}
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
