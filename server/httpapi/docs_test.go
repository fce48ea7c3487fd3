package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"sigs.k8s.io/yaml"

	"github.com/labrm/terraform-provider-lab/server/httpapi"
	"github.com/labrm/terraform-provider-lab/server/httpapi/openapi"
	"github.com/labrm/terraform-provider-lab/server/servertest"
)

// docsServer is the real API over a real (SQLite) store on a loopback
// listener with a random port.
func docsServer(t *testing.T) string {
	t.Helper()
	s := httpapi.New(httpapi.Config{Store: servertest.OpenStore(t, servertest.SQLite), Version: "test"})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		s.Close()
		srv.Close()
	})
	return srv.URL
}

// docsGet fetches url with headers (name, value pairs) and no transparent
// decompression, so that Content-Encoding can be checked.
func docsGet(t *testing.T, url string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp, b
}

func wantHeader(t *testing.T, resp *http.Response, name, want string) {
	t.Helper()
	if got := resp.Header.Get(name); got != want {
		t.Fatalf("%s %s: %s %q, want %q", resp.Request.Method, resp.Request.URL.Path, name, got, want)
	}
}

// assetRe finds the page's asset URLs.
var assetRe = regexp.MustCompile(`(?:src|href)="(/docs/[^"?]+)\?h=([0-9a-f]+)"`)

// TestDocsServed checks what /docs and the document endpoints answer:
// content types, caching and revalidation, compression, security headers,
// and that the page loads nothing but embedded assets.
func TestDocsServed(t *testing.T) {
	t.Parallel()
	base := docsServer(t)

	var page []byte
	for _, path := range []string{"/docs", "/docs/", "/docs/index.html"} {
		resp, body := docsGet(t, base+path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		wantHeader(t, resp, "Content-Type", "text/html; charset=utf-8")
		wantHeader(t, resp, "Cache-Control", "no-cache")
		wantHeader(t, resp, "X-Content-Type-Options", "nosniff")
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Fatalf("GET %s: Content-Security-Policy %q", path, csp)
		}
		page = body
		again, _ := docsGet(t, base+path, "If-None-Match", resp.Header.Get("ETag"))
		if again.StatusCode != http.StatusNotModified {
			t.Fatalf("GET %s revalidated: %d, want 304", path, again.StatusCode)
		}
	}
	if bytes.Contains(page, []byte("<script>")) || regexp.MustCompile(`(src|href)="(https?:)?//`).Match(page) {
		t.Fatalf("the page has an inline script or an external URL:\n%s", page)
	}

	wantTypes := map[string]string{
		"/docs/swagger-ui-bundle.js":   "text/javascript; charset=utf-8",
		"/docs/swagger-initializer.js": "text/javascript; charset=utf-8",
		"/docs/swagger-ui.css":         "text/css; charset=utf-8",
		"/docs/index.css":              "text/css; charset=utf-8",
		"/docs/favicon-32x32.png":      "image/png",
		"/docs/favicon-16x16.png":      "image/png",
	}
	found := map[string]bool{}
	for _, m := range assetRe.FindAllSubmatch(page, -1) {
		path, hash := string(m[1]), string(m[2])
		found[path] = true
		want, ok := wantTypes[path]
		if !ok {
			t.Fatalf("the page loads %s, which this test does not know", path)
		}
		plainResp, plain := docsGet(t, base+path+"?h="+hash)
		if plainResp.StatusCode != http.StatusOK || len(plain) == 0 {
			t.Fatalf("GET %s: %d, %d bytes", path, plainResp.StatusCode, len(plain))
		}
		wantHeader(t, plainResp, "Content-Type", want)
		wantHeader(t, plainResp, "Cache-Control", "public, max-age=31536000, immutable")
		wantHeader(t, plainResp, "Content-Encoding", "")
		if !strings.HasPrefix(strings.Trim(plainResp.Header.Get("ETag"), `"`), hash) {
			t.Fatalf("GET %s: ETag %s does not start with the page's hash %s", path, plainResp.Header.Get("ETag"), hash)
		}
		if strings.HasPrefix(want, "image/") || len(plain) <= 1024 {
			continue // not worth compressing
		}
		zResp, z := docsGet(t, base+path, "Accept-Encoding", "br;q=1, gzip;q=0.8")
		wantHeader(t, zResp, "Content-Encoding", "gzip")
		wantHeader(t, zResp, "Vary", "Accept-Encoding")
		zr, err := gzip.NewReader(bytes.NewReader(z))
		if err != nil {
			t.Fatalf("GET %s gzip: %v", path, err)
		}
		unz, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(unz, plain) {
			t.Fatalf("GET %s: gzip body does not decompress to the plain one (%v)", path, err)
		}
		if len(z) >= len(plain) {
			t.Fatalf("GET %s: gzip %d bytes, plain %d", path, len(z), len(plain))
		}
	}
	for path := range wantTypes {
		if !found[path] {
			t.Errorf("the page does not load %s", path)
		}
	}
	resp, body := docsGet(t, base+"/docs/swagger-ui-bundle.js", "If-None-Match", `W/"x", `+func() string {
		r, _ := docsGet(t, base+"/docs/swagger-ui-bundle.js")
		return r.Header.Get("ETag")
	}())
	if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Fatalf("revalidated bundle: %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, body = docsGet(t, base+"/docs/nope.js")
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("unknown asset: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	resp, _ = docsGet(t, base+"/docs/%2e%2e/openapi.go")
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a path with .. answered %d", resp.StatusCode)
	}

	// The documents: same content as JSON and YAML, revalidated.
	resp, j := docsGet(t, base+"/openapi.json")
	wantHeader(t, resp, "Content-Type", "application/json")
	wantHeader(t, resp, "Cache-Control", "no-cache")
	if !bytes.Equal(j, openapi.JSON()) {
		t.Fatal("/openapi.json is not the embedded document")
	}
	again, _ := docsGet(t, base+"/openapi.json", "If-None-Match", resp.Header.Get("ETag"))
	if again.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidated /openapi.json: %d", again.StatusCode)
	}
	resp, y := docsGet(t, base+"/openapi.yaml")
	wantHeader(t, resp, "Content-Type", "application/yaml")
	yj, err := yaml.YAMLToJSON(y)
	if err != nil {
		t.Fatalf("/openapi.yaml: %v", err)
	}
	var a, b any
	if json.Unmarshal(j, &a) != nil || json.Unmarshal(yj, &b) != nil || !equalJSON(a, b) {
		t.Fatal("/openapi.json and /openapi.yaml differ")
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// chromiumPath finds the browser: $LAB_CHROMIUM, else Debian's chromium,
// which scripts/testenv.sh (make test) installs. Without one the test is
// skipped, or fails when CI=true.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("LAB_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true and no Chromium to test Swagger UI with: apt-get install chromium (scripts/testenv.sh, which make test runs, does)")
	}
	t.Skip("no Chromium: apt-get install chromium, or run scripts/testenv.sh (make test does)")
	return ""
}

// TestDocsRenderInChromium opens /docs in headless Chromium and checks
// that Swagger UI renders every operation of the document, loads nothing
// from outside the server, and runs without script errors or
// Content-Security-Policy violations.
func TestDocsRenderInChromium(t *testing.T) {
	t.Parallel()
	browser := chromiumPath(t)
	base := docsServer(t)
	doc := loadSpec(t)
	want := map[string]bool{}
	for key := range specOperations(doc) {
		method, path, _ := strings.Cut(key, " ")
		want[strings.ToLower(method)+" "+path] = true
	}

	// The profile directory is removed by hand, ignoring errors: Chromium
	// may still be writing to it while t.TempDir's cleanup runs.
	profile, err := os.MkdirTemp("", "labd-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(profile) })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(browser),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.WindowSize(1280, 1024),
	)
	defer cancelAlloc()
	var logs []string
	logf := func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) }
	tabCtx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithLogf(logf), chromedp.WithErrorf(logf))
	defer cancelTab()

	// Everything the page does, as the browser reports it.
	var (
		mu       sync.Mutex
		requests []string
		problems []string
	)
	// Listen starts the browser; the runtime, network and log domains are
	// enabled by chromedp.
	err = chromedp.Listen(tabCtx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			requests = append(requests, ev.Request.URL)
		case *network.EventLoadingFailed:
			problems = append(problems, fmt.Sprintf("loading failed: %s (%s)", ev.ErrorText, ev.BlockedReason))
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			desc := ""
			if d.Exception != nil {
				desc = d.Exception.Description
			}
			problems = append(problems, fmt.Sprintf("exception at %s:%d: %s %s", d.URL, d.LineNumber, d.Text, desc))
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				problems = append(problems, "console."+string(ev.Type)+": "+strings.Join(args, " "))
			}
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError || ev.Entry.Source == log.EntrySourceSecurity {
				problems = append(problems, fmt.Sprintf("log %s/%s: %s %s", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text, ev.Entry.URL))
			}
		}
	})
	if err != nil {
		t.Fatalf("start Chromium: %v\nbrowser log: %s", err, strings.Join(logs, "\n"))
	}

	// Swagger UI renders each operation as .opblock with the path in
	// .opblock-summary-path[data-path] and the method in
	// .opblock-summary-method. Wait (bounded) until all are there, or
	// Swagger UI shows an error.
	const collect = `Array.from(document.querySelectorAll('.opblock')).map(b => {
		const m = b.querySelector('.opblock-summary-method');
		const p = b.querySelector('.opblock-summary-path');
		return (m ? m.textContent : '?').toLowerCase() + ' ' + (p ? p.getAttribute('data-path') : '?');
	})`
	browserErr := func(what string, err error) {
		t.Helper()
		t.Fatalf("%s: %v\nbrowser log: %s\nproblems: %v", what, err, strings.Join(logs, "\n"), problems)
	}
	if err := chromedp.Do(tabCtx, chromedp.Navigate(base+"/docs")); err != nil {
		browserErr("open /docs", err)
	}
	_, err = chromedp.Run(tabCtx, chromedp.Poll[chromedp.Void](
		fmt.Sprintf(`(%s).length >= %d || document.querySelector('.errors-wrapper') !== null`, collect, len(want)),
		chromedp.WithPollingTimeout(90*time.Second), chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil {
		browserErr(fmt.Sprintf("Swagger UI did not render %d operations in time", len(want)), err)
	}
	rendered, err := chromedp.Run(tabCtx, chromedp.Evaluate[[]string](collect))
	if err != nil {
		browserErr("read the operations", err)
	}
	title, err := chromedp.Run(tabCtx, chromedp.Evaluate[string](`(document.querySelector('.info .title') || {}).textContent || ''`))
	if err != nil {
		browserErr("read the title", err)
	}
	failure, err := chromedp.Run(tabCtx, chromedp.Evaluate[string](`(document.querySelector('.errors-wrapper') || {}).textContent || ''`))
	if err != nil {
		browserErr("read errors", err)
	}
	if shot := os.Getenv("LAB_DOCS_SCREENSHOT"); shot != "" {
		if png, err := chromedp.Run(tabCtx, chromedp.CaptureScreenshot()); err == nil {
			_ = os.WriteFile(shot, png, 0o644)
		}
	}
	// Close the browser before the checks, so that no event races them.
	if err := chromedp.Cancel(tabCtx); err != nil {
		t.Logf("close Chromium: %v", err)
	}
	cancelAlloc()

	if failure != "" {
		t.Fatalf("Swagger UI reports errors: %s", failure)
	}
	if !strings.Contains(title, "Lab Resource Manager") {
		t.Fatalf("title %q: the document's info was not rendered", title)
	}
	got := map[string]bool{}
	for _, r := range rendered {
		got[r] = true
	}
	for _, key := range slices.Sorted(maps.Keys(want)) {
		if !got[key] {
			t.Errorf("operation %s is not rendered", key)
		}
	}
	if !got["post /api/lab-instances/"] || len(got) != len(want) {
		t.Errorf("rendered %d operations, want %d: %v", len(got), len(want), slices.Sorted(maps.Keys(got)))
	}

	mu.Lock()
	defer mu.Unlock()
	var fetchedSpec bool
	for _, u := range requests {
		switch {
		case u == base+"/openapi.json":
			fetchedSpec = true
		case strings.HasPrefix(u, base+"/"), strings.HasPrefix(u, "data:"), strings.HasPrefix(u, "blob:"):
		default:
			t.Errorf("the page requested %s: everything must come from the server itself", u)
		}
	}
	if !fetchedSpec {
		t.Errorf("the page never fetched %s/openapi.json; requests: %v", base, requests)
	}
	for _, p := range problems {
		t.Errorf("browser: %s", p)
	}
}
