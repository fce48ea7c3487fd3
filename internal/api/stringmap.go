package api

import (
	"encoding/xml"
	"maps"
	"slices"
)

// StringMap is a map of strings that also has an XML form, which
// encoding/xml lacks for maps: <entry key="k">v</entry>, sorted by key so
// that the output is stable.
type StringMap map[string]string

// Clone returns a copy; nil stays nil so that "absent" and "empty" differ.
func (m StringMap) Clone() StringMap {
	if m == nil {
		return nil
	}
	return maps.Clone(m)
}

type xmlEntry struct {
	Key   string `xml:"key,attr"`
	Value string `xml:",chardata"`
}

// MarshalXML writes one <entry key="k">v</entry> element per key.
func (m StringMap) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if err := e.EncodeElement(xmlEntry{Key: k, Value: m[k]}, xml.StartElement{Name: xml.Name{Local: "entry"}}); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

// UnmarshalXML reads the form MarshalXML writes. An element present but empty
// gives an empty, non-nil map.
func (m *StringMap) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	out := StringMap{}
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local != "entry" {
				return xml.UnmarshalError("unexpected element <" + t.Name.Local + "> in " + start.Name.Local + `, want <entry key="...">`)
			}
			var e xmlEntry
			if err := d.DecodeElement(&e, &t); err != nil {
				return err
			}
			out[e.Key] = e.Value
		case xml.EndElement:
			*m = out
			return nil
		}
	}
}
