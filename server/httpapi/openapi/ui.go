package openapi

import (
	"bytes"
	"compress/gzip"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// uiFiles holds swagger-ui-dist's files that the page uses, its licence,
// and our index.html, swagger-initializer.js and index.css.
//
//go:embed swagger-ui
var uiFiles embed.FS

// uiPrefix is where Swagger UI is mounted. Asset URLs are absolute, so that
// the page works at /docs as well as /docs/.
const uiPrefix = "/docs/"

// Response headers of the UI.
const (
	// The page loads nothing from elsewhere: scripts only from here (no
	// inline script), data only from this server. Swagger UI sets inline
	// styles and uses data: URIs for icons.
	uiCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
		"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; " +
		"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
	// Asset URLs carry a content hash (?h=), so a cached copy is never
	// stale for the URL that asked for it.
	assetCacheControl = "public, max-age=31536000, immutable"
)

// uiAsset is one embedded file, ready to serve.
type uiAsset struct {
	body        []byte
	contentType string
	etag        string
	gzipped     func() []byte // nil: not worth compressing
}

type ui struct {
	assets map[string]*uiAsset // by name, e.g. "swagger-ui-bundle.js"
	page   []byte              // index.html, rendered
	etag   string
}

// loadUI loads the embedded files and renders the page, once: every
// Server of the process shares the result.
var loadUI = sync.OnceValue(newUI)

// newUI loads the embedded files and renders the page. The files are part
// of the binary, so a failure here is a build defect: it panics.
func newUI() *ui {
	sub, err := fs.Sub(uiFiles, "swagger-ui")
	if err != nil {
		panic(err)
	}
	u := &ui{assets: map[string]*uiAsset{}}
	entries, err := fs.ReadDir(sub, ".")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == "index.html" || name == "README.md" {
			continue
		}
		b, err := fs.ReadFile(sub, name)
		if err != nil {
			panic(err)
		}
		a := &uiAsset{body: b, contentType: contentType(name), etag: etag(b)}
		if len(b) > 1024 && !strings.HasPrefix(a.contentType, "image/") {
			a.gzipped = sync.OnceValue(func() []byte { return gzipBytes(b) })
		}
		u.assets[name] = a
	}
	src, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		panic(err)
	}
	tmpl := template.Must(template.New("index.html").Funcs(template.FuncMap{
		"asset": func(name string) (string, error) {
			a, ok := u.assets[name]
			if !ok {
				return "", fs.ErrNotExist
			}
			return uiPrefix + name + "?h=" + strings.Trim(a.etag, `"`)[:12], nil
		},
	}).Parse(string(src)))
	var page bytes.Buffer
	if err := tmpl.Execute(&page, nil); err != nil {
		panic(err)
	}
	u.page = page.Bytes()
	u.etag = etag(u.page)
	return u
}

// index serves the page, revalidated on every use so that an upgrade shows
// at once.
func (u *ui) index(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", uiCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", u.etag)
	if notModified(c.Request, u.etag) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, "text/html; charset=utf-8", u.page)
}

// asset serves /docs/{file}: the page for /docs/ and /docs/index.html,
// else an embedded file, gzip-compressed for clients that accept it.
func (u *ui) asset(c *gin.Context) {
	name := strings.TrimPrefix(path.Clean(c.Param("file")), "/")
	if name == "" || name == "." || name == "index.html" {
		u.index(c)
		return
	}
	a, ok := u.assets[name]
	if !ok {
		notFound(c)
		return
	}
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", assetCacheControl)
	h.Set("ETag", a.etag)
	if a.gzipped != nil {
		h.Add("Vary", "Accept-Encoding")
	}
	if notModified(c.Request, a.etag) {
		c.Status(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gzipped != nil && acceptsGzip(c.Request) {
		body = a.gzipped()
		h.Set("Content-Encoding", "gzip")
	}
	c.Data(http.StatusOK, a.contentType, body)
}

// notFound answers an unknown asset as the API answers unknown routes.
func notFound(c *gin.Context) {
	p := api.Problem{
		Type:     "about:blank",
		Title:    http.StatusText(http.StatusNotFound),
		Status:   http.StatusNotFound,
		Detail:   "no such file in Swagger UI",
		Instance: c.Request.URL.Path,
		Code:     api.ENOTFOUND,
	}
	b, _ := jsonBytes(p)
	c.Header("X-Content-Type-Options", "nosniff")
	c.Data(http.StatusNotFound, "application/problem+json", b)
}

func jsonBytes(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := writeScalar(&b, v); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".png":
		return "image/png"
	case ".html":
		return "text/html; charset=utf-8"
	}
	return "text/plain; charset=utf-8" // LICENSE, NOTICE, VERSION, *.txt
}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q := strings.ReplaceAll(params, " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

func gzipBytes(b []byte) []byte {
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return out.Bytes()
}
