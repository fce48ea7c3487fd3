package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/gin-gonic/gin"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/httpapi"
	"github.com/labrm/terraform-provider-lab/server/httpapi/openapi"
	"github.com/labrm/terraform-provider-lab/server/metrics"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// The tests in this file hold the OpenAPI document (server/httpapi/openapi)
// to what the real router does: every route is documented and every
// documented operation is routed, and every response of an exchange with the
// real server over a real store (status, content type, headers, body) is one
// the document declares, while every request the server accepted is one the
// document allows.

var specFormatsOnce sync.Once

// specFormats registers, once per test binary, what kin-openapi lacks by
// default: the body decoder of text/yaml (a YAML type labd accepts and
// answers) and validators of the uuid and email formats the document uses.
func specFormats() {
	specFormatsOnce.Do(func() {
		openapi3filter.RegisterBodyDecoder("text/yaml", openapi3filter.YamlBodyDecoder)
		openapi3.DefineStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC9562))
		openapi3.DefineStringFormatValidator("email", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForEmail))
	})
}

// specHost is the server URL the document is given for route matching, so
// that one router serves exchanges with several test servers.
const specHost = "http://labd.test"

// loadSpec loads the served JSON document and validates it.
func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	specFormats()
	doc, err := openapi3.NewLoader().LoadFromData(openapi.JSON())
	if err != nil {
		t.Fatalf("load OpenAPI document: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("OpenAPI document is invalid: %v", err)
	}
	return doc
}

// specController is the ControlPlane of these tests: logs and leader need
// one, and what it answers is not what is under test here.
type specController struct{ since time.Time }

func (specController) Logs(ctx context.Context, lab *api.LabInstanceRequest, lines int) (string, error) {
	return "Serving HTTP on 0.0.0.0 port 8080\nGET / 200\n", nil
}

func (c specController) Leader(ctx context.Context) (api.LeaderStatus, error) {
	since := c.since
	return api.LeaderStatus{IsLeader: true, Identity: "labd-0", Leader: "labd-0", Epoch: 3, LeaderSince: &since}, nil
}

func (specController) QueueDepth() int   { return 2 }
func (specController) Finalizing() int64 { return 0 }

// specChecker sends requests to test servers and validates each exchange
// against the document.
type specChecker struct {
	t      *testing.T
	doc    *openapi3.T
	router routers.Router

	mu   sync.Mutex
	seen map[string]map[int]bool // operationId -> statuses answered
}

func newSpecChecker(t *testing.T) *specChecker {
	t.Helper()
	doc := loadSpec(t)
	doc.Servers = openapi3.Servers{{URL: specHost}}
	r, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	return &specChecker{t: t, doc: doc, router: r, seen: map[string]map[int]bool{}}
}

// specReply is a validated response.
type specReply struct {
	status int
	header http.Header
	body   []byte
}

func (r *specReply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %T: %v; body: %s", v, err, r.body)
	}
}

// do sends method path (relative to base) with body and headers (name,
// value pairs), fails the test unless the answer has status want, and
// validates the exchange against the document.
func (c *specChecker) do(base, method, path string, want int, body []byte, headers ...string) *specReply {
	t := c.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body = http.NoBody
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body: %s", method, path, resp.StatusCode, want, got)
	}
	c.validate(req.Header, method, path, body, resp, got)
	return &specReply{status: resp.StatusCode, header: resp.Header, body: got}
}

// validate checks one exchange against the document.
func (c *specChecker) validate(reqHeader http.Header, method, path string, reqBody []byte, resp *http.Response, body []byte) {
	t := c.t
	t.Helper()
	ctx := context.Background()
	what := fmt.Sprintf("%s %s → %d", method, path, resp.StatusCode)

	vreq, err := http.NewRequestWithContext(ctx, method, specHost+path, bytes.NewReader(reqBody))
	if err != nil {
		t.Fatal(err)
	}
	vreq.Header = reqHeader.Clone()
	route, params, err := c.router.FindRoute(vreq)
	if err != nil {
		t.Fatalf("%s: no operation in the OpenAPI document: %v", what, err)
	}
	op := route.Operation
	c.mu.Lock()
	if c.seen[op.OperationID] == nil {
		c.seen[op.OperationID] = map[int]bool{}
	}
	c.seen[op.OperationID][resp.StatusCode] = true
	c.mu.Unlock()

	// The status must be declared: kin-openapi skips 304 and HEAD, so this
	// is checked here for every response.
	ref := op.Responses.Status(resp.StatusCode)
	if ref == nil || ref.Value == nil {
		t.Fatalf("%s: status %d is not declared for %s", what, resp.StatusCode, op.OperationID)
	}
	opts := &openapi3filter.Options{
		AuthenticationFunc:      openapi3filter.NoopAuthenticationFunc,
		IncludeResponseStatus:   true,
		MultiError:              true,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.EnableFormatValidation()},
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	reqCT, _, _ := mime.ParseMediaType(reqHeader.Get("Content-Type"))

	// A request the server accepted must be one the document allows.
	if resp.StatusCode < 400 {
		ropts := *opts
		ropts.ExcludeRequestBody = strings.HasSuffix(reqCT, "xml") // kin-openapi has no XML decoder
		in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: &ropts}
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			t.Fatalf("%s: the server accepted a request the document rejects: %v", what, err)
		}
	}

	// Streams and XML are checked below; kin-openapi decodes neither.
	stream := ct == "application/x-ndjson" || strings.Contains(resp.Header.Get("Content-Type"), "stream=watch")
	isXML := strings.HasSuffix(ct, "xml")
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: opts}
	ropts := *opts
	ropts.ExcludeResponseBody = stream || isXML
	rin := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &ropts,
	}
	if err := openapi3filter.ValidateResponse(ctx, rin); err != nil {
		t.Fatalf("%s: response does not match the document: %v\nbody: %.2000s", what, err, body)
	}
	if len(body) == 0 || method == http.MethodHead {
		return
	}
	media := ref.Value.Content.Get(resp.Header.Get("Content-Type"))
	if media == nil {
		t.Fatalf("%s: Content-Type %q is not declared", what, resp.Header.Get("Content-Type"))
	}
	switch {
	case stream:
		c.validateStream(what, media.Schema, body)
	case isXML:
		c.validateXMLRoot(what, media.Schema, body)
	}
}

// validateStream checks each line of a watch stream against the schema of
// one event.
func (c *specChecker) validateStream(what string, schema *openapi3.SchemaRef, body []byte) {
	t := c.t
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	n := 0
	for sc.Scan() {
		var v any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: line %d is not JSON: %v: %s", what, n+1, err, sc.Bytes())
		}
		if err := schema.Value.VisitJSON(v, openapi3.VisitAsResponse(), openapi3.MultiErrors(), openapi3.EnableFormatValidation()); err != nil {
			t.Fatalf("%s: line %d does not match the event schema: %v\nline: %s", what, n+1, err, sc.Bytes())
		}
		n++
	}
	if n == 0 {
		t.Fatalf("%s: empty stream", what)
	}
}

// validateXMLRoot checks that an XML body is well-formed and has the root
// element the schema's xml object names.
func (c *specChecker) validateXMLRoot(what string, schema *openapi3.SchemaRef, body []byte) {
	t := c.t
	t.Helper()
	want := schema.Value.XML
	if want == nil || want.Name == "" {
		t.Fatalf("%s: the schema of an XML body names no root element (xml.name)", what)
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	var root *xml.StartElement
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: malformed XML: %v", what, err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == nil {
			root = &se
		}
	}
	if root == nil || root.Name.Local != want.Name || root.Name.Space != want.Namespace {
		t.Fatalf("%s: XML root %+v, want <%s> in namespace %q", what, root, want.Name, want.Namespace)
	}
}

// operations lists "METHOD path" → operationId of the document.
func specOperations(doc *openapi3.T) map[string]string {
	out := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			out[method+" "+path] = op.OperationID
		}
	}
	return out
}

// checkCoverage fails unless every documented operation was answered with
// a success, and every error status in want was seen somewhere.
func (c *specChecker) checkCoverage(wantErrors ...int) {
	t := c.t
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, id := range specOperations(c.doc) {
		ok := false
		for status := range c.seen[id] {
			ok = ok || status < 400
		}
		if !ok {
			t.Errorf("operation %s (%s) was not exercised with a success", id, key)
		}
	}
	statuses := map[int]bool{}
	for _, m := range c.seen {
		maps.Copy(statuses, m)
	}
	for _, s := range wantErrors {
		if !statuses[s] {
			t.Errorf("no exchange answered %d", s)
		}
	}
}

// specServer serves cfg on a real listener.
func specServer(t *testing.T, cfg httpapi.Config) string {
	t.Helper()
	cfg.Version = "test"
	if db, ok := cfg.Store.(*store.DB); ok {
		cfg.Notify = db
	}
	s := httpapi.New(cfg)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		s.Close()
		srv.Close()
	})
	return srv.URL
}

// TestOpenAPIRoutes checks that the document and the router name the same
// operations, so that neither can change without the other.
func TestOpenAPIRoutes(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	m := metrics.New()
	s := httpapi.New(httpapi.Config{
		Store:          servertest.OpenStore(t, servertest.SQLite),
		ControlPlane:   specController{},
		Metrics:        m,
		MetricsHandler: m.Handler(),
	})
	t.Cleanup(s.Close)
	engine, ok := s.Handler().(*gin.Engine)
	if !ok {
		t.Fatalf("Handler is a %T, not a *gin.Engine", s.Handler())
	}
	// Swagger UI's page and assets are not API operations.
	ui := map[string]bool{"GET /docs": false, "GET /docs/*file": false, "HEAD /docs": false, "HEAD /docs/*file": false}
	param := regexp.MustCompile(`:([A-Za-z_]+)`)
	routed := map[string]bool{}
	for _, r := range engine.Routes() {
		key := r.Method + " " + param.ReplaceAllString(r.Path, "{$1}")
		if _, ok := ui[key]; ok {
			ui[key] = true
			continue
		}
		// The collection answers with and without the trailing slash; the
		// document names it once.
		if r.Path == "/api/lab-instances" || r.Path == "/api/workspaces" {
			key += "/"
		}
		routed[key] = true
	}
	for key, found := range ui {
		if !found {
			t.Errorf("route %s is not registered", key)
		}
	}
	documented := specOperations(doc)
	for _, key := range slices.Sorted(maps.Keys(routed)) {
		// HEAD is answered wherever GET is (the document says so once);
		// documented HEAD operations (the probes) are checked as any.
		if path, ok := strings.CutPrefix(key, "HEAD "); ok {
			if _, doc := documented[key]; !doc && !routed["GET "+path] {
				t.Errorf("route %s has no GET route", key)
			}
			continue
		}
		if path, ok := strings.CutPrefix(key, "GET "); ok && !routed["HEAD "+path] {
			t.Errorf("route %s answers no HEAD", key)
		}
		if _, ok := documented[key]; !ok {
			t.Errorf("route %s is not in the OpenAPI document", key)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(documented)) {
		if !routed[key] {
			t.Errorf("the OpenAPI document has %s (%s), which the router does not serve", key, documented[key])
		}
	}
}

// TestOpenAPISecurity checks what the document says about credentials:
// every lab-instances operation needs a bearer token, health and readiness
// never do, and the monitoring routes may.
func TestOpenAPISecurity(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Security == nil {
				t.Errorf("%s %s: no security requirement (say security: [] for open)", method, path)
				continue
			}
			var open, bearer bool
			for _, req := range *op.Security {
				_, b := req["bearerAuth"]
				bearer = bearer || b
				open = open || len(req) == 0
			}
			if len(*op.Security) == 0 {
				open = true
			}
			switch {
			case strings.HasPrefix(path, "/api/lab-instances"):
				if !bearer || open {
					t.Errorf("%s %s: must require bearerAuth", method, path)
				}
				if op.Responses.Status(http.StatusUnauthorized) == nil {
					t.Errorf("%s %s: no 401 response", method, path)
				}
				if method != http.MethodGet && op.Responses.Status(http.StatusForbidden) == nil {
					t.Errorf("%s %s: a write without a 403 response (read-only tokens)", method, path)
				}
			case path == "/api/status/health" || path == "/api/status/ready" || strings.HasPrefix(path, "/openapi."):
				if bearer {
					t.Errorf("%s %s: must be open", method, path)
				}
			case strings.HasPrefix(path, "/api/status/"):
				if !bearer || !open {
					t.Errorf("%s %s: must be open with optional bearerAuth", method, path)
				}
			}
		}
	}
}

// TestOpenAPIProblemCodes holds the document's list of problem codes to the
// code table in internal/api, and the cap on a problem's field errors to
// api.MaxProblemFields.
func TestOpenAPIProblemCodes(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	problem := doc.Components.Schemas["Problem"].Value
	var documented []string
	for _, v := range problem.Properties["code"].Value.Enum {
		documented = append(documented, v.(string))
	}
	slices.Sort(documented)
	if want := slices.Sorted(slices.Values(api.Codes())); !slices.Equal(documented, want) {
		t.Errorf("documented codes %v, want the table's %v", documented, want)
	}
	if max := problem.Properties["errors"].Value.MaxItems; max == nil || *max != api.MaxProblemFields {
		t.Errorf("errors maxItems %v, want %d", max, api.MaxProblemFields)
	}
}

// TestOpenAPIResponses exercises every operation of the real router over
// each real store, including the error answers, and validates every
// exchange against the document.
func TestOpenAPIResponses(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		c := newSpecChecker(t)
		m := metrics.New()
		base := specServer(t, httpapi.Config{
			Store:          db,
			ControlPlane:   specController{since: time.Now().Add(-time.Minute)},
			Capacity:       specCapacity{},
			Workspaces:     specWorkspaces{},
			Metrics:        m,
			MetricsHandler: m.Handler(),
		})
		exerciseLabs(t, c, db, base)
		exerciseStatus(t, c, db, base)
		exerciseAuth(t, c, db)
		exerciseDocument(c, base)
		exerciseClassroom(t, c, db, base)
		c.checkCoverage(400, 401, 403, 404, 406, 409, 410, 413, 415, 422, 428, 503)
	})
}

const (
	mergePatch = "application/merge-patch+json"
	jsonType   = "application/json"
	yamlType   = "application/yaml"
	xmlType    = "application/xml"
)

func specFlat(name string) []byte {
	return []byte(flatBody(name, func(m map[string]any) {
		m["labels"] = map[string]any{"course": "cs101"}
		m["resource_limits"] = map[string]any{"cpu": "500m", "memory": "512Mi"}
	}))
}

func specManifest(name string, finalizers ...string) []byte {
	meta := map[string]any{"name": name, "namespace": "default", "labels": map[string]any{"course": "cs102"}}
	if len(finalizers) > 0 {
		meta["finalizers"] = finalizers
	}
	return []byte(mustJSON(map[string]any{
		"api_version": api.APIVersion,
		"kind":        api.Kind,
		"metadata":    meta,
		"spec": map[string]any{
			"lab_template":         "python:3.9-alpine",
			"student_email":        "other@university.edu",
			"duration_minutes":     30,
			"scheduled_start_time": "2030-01-02T15:04:05Z",
			"environment":          map[string]any{"LAB_TYPE": "python-basics"},
		},
	}))
}

func exerciseLabs(t *testing.T, c *specChecker, db *store.DB, base string) {
	const coll = "/api/lab-instances/"
	ct := func(typ string) []string { return []string{"Content-Type", typ} }

	// Create, both forms, every body format.
	var flat api.LabInstanceRequest
	c.do(base, "POST", coll, 201, specFlat("flat-lab"), ct(jsonType)...).decode(t, &flat)
	c.do(base, "POST", coll, 201, specManifest("manifest-lab"), ct(jsonType)...)
	c.do(base, "POST", coll, 201, specManifest("final-lab", api.Finalizer), ct(jsonType)...)
	c.do(base, "POST", coll, 201, []byte("name: yaml-lab\nlab_template: python:3.9-alpine\nstudent_email: s@university.edu\nduration_minutes: 15\n"),
		"Content-Type", "text/yaml", "Accept", "application/x-yaml")
	c.do(base, "POST", "/api/lab-instances/?namespace=other", 201, []byte(`<LabInstanceRequest><metadata><name>xml-lab</name>`+
		`<labels><entry key="course">cs103</entry></labels></metadata><spec><lab_template>busybox</lab_template>`+
		`<student_email>x@university.edu</student_email><duration_minutes>5</duration_minutes></spec></LabInstanceRequest>`),
		"Content-Type", xmlType, "Accept", xmlType)
	// Create errors.
	c.do(base, "POST", coll, 409, specFlat("flat-lab"), ct(jsonType)...)
	p := c.do(base, "POST", coll, 422, []byte(flatBody("bad-lab", func(m map[string]any) { m["duration_minutes"] = 0 })), ct(jsonType)...)
	var prob api.Problem
	p.decode(t, &prob)
	if prob.Code != api.EINVALID || len(prob.Errors) == 0 || prob.Errors[0].Field != "duration_minutes" {
		t.Fatalf("422 problem %+v, want code invalid naming duration_minutes", prob)
	}
	c.do(base, "POST", coll, 400, []byte(flatBody("typo-lab", func(m map[string]any) { m["lab_templat"] = "x" })), ct(jsonType)...)
	c.do(base, "POST", coll, 400, []byte(`{"name":"mixed","spec":{}}`), ct(jsonType)...)
	c.do(base, "POST", coll, 400, []byte(`{"name":"x"`), "Content-Type", jsonType, "Accept", yamlType)
	c.do(base, "POST", coll, 400, []byte(`{"name":"x"`), "Content-Type", jsonType, "Accept", xmlType)
	huge := []byte(`{"name":"huge","annotations":{"a":"` + strings.Repeat("x", 1<<20) + `"}}`)
	c.do(base, "POST", coll, 413, huge, ct(jsonType)...)
	c.do(base, "POST", coll, 415, []byte("name=x"), ct("application/x-www-form-urlencoded")...)
	c.do(base, "POST", coll, 406, specFlat("never"), "Content-Type", jsonType, "Accept", "image/png")

	// Read.
	path := "/api/lab-instances/flat-lab"
	got := c.do(base, "GET", path, 200, nil)
	etag := got.header.Get("ETag")
	c.do(base, "GET", path, 304, nil, "If-None-Match", etag)
	c.do(base, "GET", path, 200, nil, "Accept", "text/yaml")
	c.do(base, "GET", path, 200, nil, "Accept", "text/xml")
	c.do(base, "GET", "/api/lab-instances/xml-lab?namespace=other", 200, nil, "Accept", yamlType)
	c.do(base, "GET", "/api/lab-instances/nope", 404, nil)
	c.do(base, "GET", "/api/lab-instances/nope", 404, nil, "Accept", xmlType)
	c.do(base, "GET", "/api/lab-instances/Bad_Name", 400, nil)

	// List, with every filter, and page by page.
	var list api.LabInstanceRequestList
	c.do(base, "GET", coll, 200, nil).decode(t, &list)
	if len(list.Items) != 5 {
		t.Fatalf("list has %d labs, want 5", len(list.Items))
	}
	c.do(base, "GET", "/api/lab-instances", 200, nil, "Accept", xmlType)
	c.do(base, "GET", coll+"?namespace=default&phase=pending&student_email=student@university.edu&label_selector=course%3Dcs101", 200, nil)
	var page api.LabInstanceRequestList
	c.do(base, "GET", coll+"?limit=2", 200, nil).decode(t, &page)
	if page.Metadata.Continue == "" {
		t.Fatal("a page of 2 of 5 labs has no continue token")
	}
	c.do(base, "GET", coll+"?limit=2&continue="+page.Metadata.Continue, 200, nil, "Accept", yamlType)
	c.do(base, "GET", coll+"?continue=garbage", 400, nil)
	c.do(base, "GET", coll+"?phase=SLEEPING", 400, nil)
	c.do(base, "GET", coll, 406, nil, "Accept", "text/html")

	// Write: PUT, PATCH, with their preconditions.
	rv := flat.Metadata.ResourceVersion
	put := func(rv int64, duration int, template string) []byte {
		meta := map[string]any{"name": "flat-lab", "labels": map[string]any{"course": "cs101", "term": "fall"}}
		if rv != 0 {
			meta["resource_version"] = rv
		}
		return []byte(mustJSON(map[string]any{"metadata": meta, "spec": map[string]any{
			"lab_template": template, "student_email": "student@university.edu", "duration_minutes": duration,
			"environment": map[string]any{"LAB_TYPE": "python-basics"}, "resource_limits": map[string]any{"cpu": "500m", "memory": "512Mi"},
		}}))
	}
	var updated api.LabInstanceRequest
	c.do(base, "PUT", path, 200, put(rv, 90, "python:3.9-alpine"), ct(jsonType)...).decode(t, &updated)
	c.do(base, "PUT", path, 409, put(rv, 91, "python:3.9-alpine"), ct(jsonType)...)
	c.do(base, "PUT", path, 428, put(0, 91, "python:3.9-alpine"), ct(jsonType)...)
	c.do(base, "PUT", path, 422, put(0, 91, "python:3.10-alpine"), "Content-Type", jsonType, "If-Match", "*")
	c.do(base, "PUT", path, 200, put(0, 95, "python:3.9-alpine"), "Content-Type", yamlType, "If-Match", etagOf(updated.Metadata.ResourceVersion))
	c.do(base, "PUT", "/api/lab-instances/nope", 400, put(0, 95, "python:3.9-alpine"), "Content-Type", jsonType, "If-Match", "*")
	c.do(base, "PUT", "/api/lab-instances/nope", 404, bytes.Replace(put(0, 95, "python:3.9-alpine"), []byte(`"flat-lab"`), []byte(`"nope"`), 1),
		"Content-Type", jsonType, "If-Match", "*")
	c.do(base, "PATCH", path, 200, []byte(`{"metadata":{"labels":{"term":null}},"spec":{"duration_minutes":120}}`), ct(mergePatch)...)
	c.do(base, "PATCH", path, 200, []byte("spec:\n  duration_minutes: 100\n"), "Content-Type", yamlType, "Accept", yamlType)
	c.do(base, "PATCH", path, 409, []byte(`{"spec":{"duration_minutes":60}}`), "Content-Type", mergePatch, "If-Match", etagOf(rv))
	c.do(base, "PATCH", path, 422, []byte(`{"status":{"phase":"RUNNING"}}`), ct(mergePatch)...)
	c.do(base, "PATCH", path, 415, []byte(`[{"op":"remove","path":"/metadata/labels"}]`), ct("application/json-patch+json")...)
	c.do(base, "PATCH", path, 400, []byte(`{"spec":{"colour":"red"}}`), ct(mergePatch)...)

	// History.
	var events api.LabEventList
	c.do(base, "GET", path+"/events", 200, nil).decode(t, &events)
	if len(events.Items) == 0 {
		t.Fatal("no events")
	}
	c.do(base, "GET", path+"/events", 200, nil, "Accept", xmlType)
	c.do(base, "GET", "/api/lab-instances/nope/events", 404, nil)

	// Start and stop, logs: put a lab in RUNNING as the controller would.
	c.do(base, "POST", "/api/lab-instances/manifest-lab/start", 202, nil)
	c.do(base, "POST", "/api/lab-instances/manifest-lab/stop", 409, nil)
	c.do(base, "GET", "/api/lab-instances/manifest-lab/logs", 409, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := db.UpdateLab(ctx, api.Key{Namespace: "default", Name: "flat-lab"}, store.WriteOptions{}, func(l *api.LabInstanceRequest) error {
		now := time.Now()
		for _, to := range []api.Phase{api.PhaseProvisioning, api.PhaseRunning} {
			if err := l.Transition(to, "Test", "as the controller would", now); err != nil {
				return err
			}
		}
		l.Status.ContainerID = "0123456789ab"
		l.Status.AccessURL = "http://localhost:8000/labs/default/flat-lab/"
		l.Status.Endpoint = "172.18.0.5:8080"
		l.Status.StartedAt = &now
		l.Status.ObservedGeneration = l.Metadata.Generation
		l.Status.ResourceAllocation = api.StringMap{"cpu": "500m", "memory": "512Mi"}
		return nil
	})
	if err != nil {
		t.Fatalf("make flat-lab RUNNING: %v", err)
	}
	c.do(base, "GET", path, 200, nil)
	logs := c.do(base, "GET", path+"/logs?lines=50", 200, nil)
	if !strings.Contains(string(logs.body), "Serving HTTP") {
		t.Fatalf("logs %q", logs.body)
	}
	c.do(base, "GET", path+"/logs?lines=0", 400, nil)
	c.do(base, "POST", path+"/start", 409, nil)
	c.do(base, "POST", path+"/stop", 202, nil, "Accept", yamlType)
	c.do(base, "POST", "/api/lab-instances/nope/stop", 404, nil)

	// Access: the gateway URL and token; rotation replaces the token.
	var access, rotated api.LabAccess
	c.do(base, "GET", path+"/access", 200, nil).decode(t, &access)
	if access.Token == "" || access.URL != "http://localhost:8000/labs/default/flat-lab/" {
		t.Fatalf("access %+v", access)
	}
	c.do(base, "GET", path+"/access", 200, nil, "Accept", xmlType)
	c.do(base, "POST", path+"/access/rotate", 200, nil, "Accept", yamlType)
	c.do(base, "GET", path+"/access", 200, nil).decode(t, &rotated)
	if rotated.Token == access.Token || rotated.Token == "" {
		t.Fatal("rotation kept the token")
	}
	c.do(base, "GET", "/api/lab-instances/nope/access", 404, nil)
	c.do(base, "POST", "/api/lab-instances/nope/access/rotate", 404, nil)

	// A watch from the start: ADDED for every lab, then a BOOKMARK.
	w := c.do(base, "GET", coll+"?watch=true&timeout_seconds=1", 200, nil)
	if !bytes.Contains(w.body, []byte(`"type":"ADDED"`)) || !bytes.Contains(w.body, []byte(`"type":"BOOKMARK"`)) {
		t.Fatalf("watch without resource_version: %s", w.body)
	}
	// A watch from a position, one lab, as application/json;stream=watch.
	c.do(base, "PATCH", path, 200, []byte(`{"metadata":{"labels":{"watched":"yes"}}}`), ct(mergePatch)...)
	w = c.do(base, "GET", coll+"?watch=true&name=flat-lab&namespace=default&timeout_seconds=1&resource_version="+itoa(list.Metadata.ResourceVersion),
		200, nil, "Accept", jsonType)
	if !bytes.Contains(w.body, []byte(`"type":"MODIFIED"`)) {
		t.Fatalf("watch from %d: %s", list.Metadata.ResourceVersion, w.body)
	}
	c.do(base, "GET", coll+"?watch=maybe", 400, nil)
	c.do(base, "GET", coll+"?watch=true", 406, nil, "Accept", yamlType)

	// Delete: gone at once (200), marked while a finalizer remains (202).
	var last api.LabInstanceRequest
	c.do(base, "GET", "/api/lab-instances/yaml-lab", 200, nil).decode(t, &last)
	c.do(base, "DELETE", "/api/lab-instances/yaml-lab?resource_version="+itoa(last.Metadata.ResourceVersion+100), 409, nil)
	c.do(base, "DELETE", "/api/lab-instances/yaml-lab?resource_version="+itoa(last.Metadata.ResourceVersion), 200, nil)
	c.do(base, "DELETE", "/api/lab-instances/final-lab", 202, nil, "Accept", xmlType)
	c.do(base, "DELETE", "/api/lab-instances/final-lab", 202, nil)
	c.do(base, "POST", "/api/lab-instances/final-lab/start", 409, nil)
	c.do(base, "PATCH", "/api/lab-instances/final-lab", 200, []byte(`{"metadata":{"finalizers":null}}`), ct(mergePatch)...)
	c.do(base, "DELETE", "/api/lab-instances/final-lab", 404, nil)

	// After retention pruned the change log, an old position is gone.
	if _, err := db.PruneEvents(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("prune: %v", err)
	}
	c.do(base, "GET", coll+"?watch=true&resource_version="+itoa(list.Metadata.ResourceVersion), 410, nil)
}

func exerciseStatus(t *testing.T, c *specChecker, db *store.DB, base string) {
	var h api.Health
	c.do(base, "GET", "/api/status/health", 200, nil).decode(t, &h)
	if h.Status != "healthy" {
		t.Fatalf("health %+v", h)
	}
	c.do(base, "GET", "/api/status/health", 200, nil, "Accept", yamlType)
	c.do(base, "HEAD", "/api/status/health", 200, nil)
	c.do(base, "GET", "/api/status/health", 406, nil, "Accept", xmlType)
	c.do(base, "GET", "/api/status/ready", 200, nil)
	c.do(base, "HEAD", "/api/status/ready", 200, nil)
	c.do(base, "GET", "/api/status/leader", 200, nil)
	c.do(base, "GET", "/api/status/leader", 200, nil, "Accept", "text/yaml")
	// A watcher's bookmark, as the controller's outbox watcher keeps it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.LockBookmark(ctx, "controller", 1)
		return err
	}); err != nil {
		t.Fatalf("bookmark: %v", err)
	}
	var bms api.BookmarkStatus
	c.do(base, "GET", "/api/status/bookmarks", 200, nil).decode(t, &bms)
	if len(bms.Watchers) != 1 || bms.Watchers[0].Name != "controller" || bms.Bookmark != 1 {
		t.Fatalf("bookmarks %+v, want the controller's", bms)
	}
	var st api.SystemStatus
	c.do(base, "GET", "/api/status/status", 200, nil).decode(t, &st)
	if st.Total == 0 || st.QueueDepth != 2 {
		t.Fatalf("status %+v", st)
	}
	c.do(base, "GET", "/api/status/finalizers", 200, nil)
	metricsText := c.do(base, "GET", "/api/status/metrics", 200, nil)
	if !bytes.Contains(metricsText.body, []byte("labd_http_requests_total")) {
		t.Fatalf("metrics without labd_http_requests_total:\n%.1000s", metricsText.body)
	}

	// Without a controller, and with a failing readiness check.
	bare := specServer(t, httpapi.Config{Store: db, Ready: map[string]func(context.Context) error{
		"docker": func(context.Context) error { return api.Errorf(api.EUNAVAILABLE, "docker engine unreachable") },
	}})
	var ready api.Ready
	c.do(bare, "GET", "/api/status/ready", 503, nil).decode(t, &ready)
	if ready.Status != "not_ready" || ready.Checks["database"] != "ok" || ready.Checks["docker"] == "ok" {
		t.Fatalf("ready %+v", ready)
	}
	c.do(bare, "HEAD", "/api/status/ready", 503, nil)
	c.do(bare, "GET", "/api/status/leader", 503, nil)
	c.do(bare, "GET", "/api/lab-instances/manifest-lab/logs", 503, nil)
	c.do(bare, "GET", "/api/status/status", 200, nil, "Accept", yamlType)
	c.do(bare, "GET", "/api/status/finalizers", 200, nil)

	// An empty store: empty lists and maps, not nulls.
	empty := specServer(t, httpapi.Config{Store: servertest.OpenStore(t, db.Kind())})
	for _, path := range []string{"/api/lab-instances/", "/api/status/status", "/api/status/bookmarks", "/api/status/finalizers"} {
		c.do(empty, "GET", path, 200, nil)
	}
	c.do(empty, "GET", "/api/lab-instances/?watch=true&timeout_seconds=1", 200, nil)
}

// exerciseAuth checks the answers of a labd that requires tokens.
func exerciseAuth(t *testing.T, c *specChecker, db *store.DB) {
	const rw, ro = "rw-token-0123456789abcdef", "ro-token-0123456789abcdef"
	tokens, err := httpapi.NewTokens([]httpapi.Token{{Secret: rw, Role: httpapi.ReadWrite}, {Secret: ro, Role: httpapi.ReadOnly}})
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	base := specServer(t, httpapi.Config{Store: db, ControlPlane: specController{}, Tokens: tokens, MetricsAuth: true, MetricsHandler: m.Handler()})
	c.do(base, "GET", "/api/lab-instances/", 401, nil)
	c.do(base, "GET", "/api/lab-instances/", 401, nil, "Authorization", "Bearer wrong-token-0123456789", "Accept", xmlType)
	c.do(base, "GET", "/api/lab-instances/", 200, nil, "Authorization", "Bearer "+ro)
	c.do(base, "POST", "/api/lab-instances/", 403, specFlat("ro-lab"), "Content-Type", jsonType, "Authorization", "Bearer "+ro)
	c.do(base, "DELETE", "/api/lab-instances/manifest-lab", 403, nil, "Authorization", "Bearer "+ro, "Accept", xmlType)
	// A lab's access token is a secret: read-write tokens only.
	c.do(base, "GET", "/api/lab-instances/manifest-lab/access", 403, nil, "Authorization", "Bearer "+ro)
	c.do(base, "POST", "/api/lab-instances/manifest-lab/access/rotate", 403, nil, "Authorization", "Bearer "+ro)
	c.do(base, "GET", "/api/lab-instances/manifest-lab/access", 200, nil, "Authorization", "Bearer "+rw)
	c.do(base, "GET", "/api/status/leader", 401, nil)
	c.do(base, "GET", "/api/status/metrics", 401, nil)
	c.do(base, "GET", "/api/status/metrics", 200, nil, "Authorization", "Bearer "+ro)
	c.do(base, "GET", "/api/status/health", 200, nil)
	c.do(base, "GET", "/api/status/ready", 200, nil)
	c.do(base, "GET", "/openapi.json", 200, nil)
}

func exerciseDocument(c *specChecker, base string) {
	j := c.do(base, "GET", "/openapi.json", 200, nil)
	if !bytes.Equal(j.body, openapi.JSON()) {
		c.t.Fatal("/openapi.json is not the embedded document")
	}
	c.do(base, "GET", "/openapi.json", 304, nil, "If-None-Match", j.header.Get("ETag"))
	y := c.do(base, "GET", "/openapi.yaml", 200, nil)
	if !bytes.Equal(y.body, openapi.YAML()) {
		c.t.Fatal("/openapi.yaml is not the embedded document")
	}
}
