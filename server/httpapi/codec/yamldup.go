package codec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	yamlv2 "go.yaml.in/yaml/v2"
)

// yamlKeepingDuplicates converts a YAML document to JSON text that keeps
// every key as written, duplicates included, so that the strict JSON
// decoder reports a key given twice by its path ("spec.duration_minutes",
// "metadata.labels[a]"), as it does for a JSON body. It is used only on
// YAML the strict conversion refused for a duplicate key.
func yamlKeepingDuplicates(raw []byte) ([]byte, error) {
	var doc yamlv2.MapSlice
	if err := yamlv2.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := writeYAMLAsJSON(&b, doc); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeYAMLAsJSON(b *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case yamlv2.MapSlice:
		b.WriteByte('{')
		for i, item := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(fmt.Sprint(item.Key))
			b.Write(k)
			b.WriteByte(':')
			if err := writeYAMLAsJSON(b, item.Value); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeYAMLAsJSON(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	default:
		j, err := json.Marshal(x)
		if err != nil {
			return err
		}
		b.Write(j)
	}
	return nil
}

func isDuplicateKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "already set in map")
}
