// Package openapi serves labd's OpenAPI 3 document and a Swagger UI for it,
// both embedded in the binary so that the documentation works offline and
// always describes the server it is served by.
//
// The document is written by hand as YAML (openapi.yaml), where comments and
// key order help the reader, and served as YAML at /openapi.yaml and as JSON
// at /openapi.json, converted once with the key order kept, so that Swagger
// UI lists the operations in the order the document gives them. The API's
// tests validate real responses of the real router against this document and
// check that it names exactly the routes the router has, so the two cannot
// drift apart.
//
// Swagger UI (swagger-ui-dist, see swagger-ui/README.md) is served at /docs.
package openapi

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	yaml "go.yaml.in/yaml/v2"
)

//go:embed openapi.yaml
var documentYAML []byte

// documentJSON is documentYAML as JSON. A broken document is a build
// defect that the package's tests catch, so converting it at start-up
// panics rather than serving nothing.
var documentJSON = mustJSON(documentYAML)

// YAML returns the document as YAML, as written. The caller must not
// modify it.
func YAML() []byte { return documentYAML }

// JSON returns the document as JSON, with the key order of the YAML. The
// caller must not modify it.
func JSON() []byte { return documentJSON }

// Register mounts the document and Swagger UI on r:
//
//	GET /openapi.json   the document as JSON
//	GET /openapi.yaml   the document as YAML
//	GET /docs, /docs/   Swagger UI
//	GET /docs/{file}    its assets
//
// None needs credentials: the document holds nothing secret, and Swagger UI
// asks for a token before it sends a request that needs one.
func Register(r gin.IRoutes) {
	r.GET("/openapi.json", serveDocument(documentJSON, "application/json"))
	r.GET("/openapi.yaml", serveDocument(documentYAML, "application/yaml"))
	ui := loadUI()
	r.GET("/docs", ui.index)
	r.GET("/docs/*file", ui.asset)
}

// serveDocument answers with body, revalidated on every use (no-cache plus
// an ETag), since the document changes whenever labd is upgraded.
func serveDocument(body []byte, contentType string) gin.HandlerFunc {
	tag := etag(body)
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("ETag", tag)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		if notModified(c.Request, tag) {
			c.Status(http.StatusNotModified)
			return
		}
		c.Data(http.StatusOK, contentType, body)
	}
}

// etag is a strong validator for b.
func etag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// notModified reports whether the request's If-None-Match names tag.
func notModified(r *http.Request, tag string) bool {
	inm := r.Header.Get("If-None-Match")
	if inm == "" {
		return false
	}
	for _, t := range strings.Split(inm, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == tag {
			return true
		}
	}
	return false
}

func mustJSON(y []byte) []byte {
	j, err := toJSON(y)
	if err != nil {
		panic(fmt.Sprintf("openapi: openapi.yaml: %v", err))
	}
	return j
}

// toJSON converts a YAML document to JSON, keeping the order of mapping
// keys (which encoding/json, writing maps, would sort).
func toJSON(y []byte) ([]byte, error) {
	var doc yaml.MapSlice
	if err := yaml.Unmarshal(y, &doc); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := writeJSON(&b, doc); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

func writeJSON(b *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case yaml.MapSlice:
		b.WriteByte('{')
		for i, item := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			key, ok := item.Key.(string)
			if !ok {
				// OpenAPI keys are strings; a key YAML reads as a number
				// or boolean (200, true) must be quoted in the document.
				return fmt.Errorf("mapping key %v (%T) is not a string: quote it", item.Key, item.Key)
			}
			if err := writeScalar(b, key); err != nil {
				return err
			}
			b.WriteByte(':')
			if err := writeJSON(b, item.Value); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSON(b, e); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		b.WriteByte(']')
	case map[any]any:
		// MapSlice decoding yields no plain maps; refuse rather than guess.
		return fmt.Errorf("unexpected unordered mapping")
	default:
		return writeScalar(b, v)
	}
	return nil
}

func writeScalar(b *bytes.Buffer, v any) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1) // Encode's newline
	return nil
}
