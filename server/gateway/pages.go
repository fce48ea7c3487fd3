package gateway

import (
	"bytes"
	"html/template"
	"net/http"
	"strconv"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// The gateway's own pages: small, self-contained HTML (no script; a meta
// refresh where the page waits for something), escaped by html/template.

// pageView is what a lab's pages show.
type pageView struct {
	Lab     string // namespace/name
	Phase   api.Phase
	Message string // the current condition's message, or why it ended
	Error   string // error_message of a failed lab
	Refresh int    // seconds before the page reloads itself; 0: never
}

// view is the page data of a lab.
func view(lab *api.LabInstanceRequest, t target) *pageView {
	v := &pageView{Lab: t.key.String(), Phase: lab.Status.Phase, Error: lab.Status.ErrorMessage}
	cond := api.ConditionReady
	if lab.Status.Phase == api.PhasePending {
		cond = api.ConditionScheduled
	}
	if c := lab.Condition(cond); c != nil {
		v.Message = c.Message
	} else if c := lab.Condition(api.ConditionScheduled); c != nil {
		v.Message = c.Message
	}
	if lab.Metadata.DeletionTimestamp != nil {
		v.Message = "the lab was deleted"
	}
	return v
}

var pages = template.Must(template.New("pages").Parse(`
{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{{if .}}{{if .Refresh}}<meta http-equiv="refresh" content="{{.Refresh}}">{{end}}{{end}}
<style>
body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222;line-height:1.5}
h1{font-size:1.4rem}.phase{font-family:monospace;background:#eee;padding:.1rem .4rem;border-radius:.2rem}
.muted{color:#666;font-size:.9rem}pre{white-space:pre-wrap;background:#f6f6f6;padding:.8rem;border-radius:.3rem}
</style>{{end}}

{{define "unauthorized"}}{{template "head"}}
<title>Access link needed</title></head><body>
<h1 id="title">Access link needed</h1>
<p>This lab opens with its access link: the address your teacher gave you, ending in <code>?token=…</code>.
Open that link again; this browser then remembers it for the lab.</p>
</body></html>
{{end}}

{{define "starting"}}{{template "head" .}}
<title>Starting {{.Lab}}</title></head><body>
<h1 id="title">Your lab is starting</h1>
<p>Lab <strong id="lab">{{.Lab}}</strong> is <span class="phase" id="phase">{{.Phase}}</span>.</p>
{{if .Message}}<p id="message">{{.Message}}</p>{{end}}
<p class="muted">This page reloads every {{.Refresh}} seconds and shows the lab as soon as it is ready.</p>
</body></html>
{{end}}

{{define "failed"}}{{template "head" .}}
<title>{{.Lab}} failed</title></head><body>
<h1 id="title">Your lab could not run</h1>
<p>Lab <strong id="lab">{{.Lab}}</strong> is <span class="phase" id="phase">{{.Phase}}</span>.</p>
<pre id="error">{{or .Error .Message}}</pre>
<p class="muted">Ask your teacher to look at it.</p>
</body></html>
{{end}}

{{define "ended"}}{{template "head" .}}
<title>{{.Lab}} has ended</title></head><body>
<h1 id="title">This lab has ended</h1>
<p>Lab <strong id="lab">{{.Lab}}</strong> is <span class="phase" id="phase">{{.Phase}}</span>.</p>
{{if .Message}}<p id="message">{{.Message}}</p>{{end}}
</body></html>
{{end}}

{{define "noapp"}}{{template "head" .}}
<title>{{.Lab}} has no web app</title></head><body>
<h1 id="title">This lab has no web app</h1>
<p>Lab <strong id="lab">{{.Lab}}</strong> is <span class="phase" id="phase">{{.Phase}}</span>, without a port to open.</p>
</body></html>
{{end}}

{{define "appdown"}}{{template "head" .}}
<title>{{.Lab}} is not answering</title></head><body>
<h1 id="title">Your lab's app is not answering</h1>
<p>Lab <strong id="lab">{{.Lab}}</strong> is <span class="phase" id="phase">{{.Phase}}</span>, but its app does not answer right now.</p>
<p class="muted">This page reloads every {{.Refresh}} seconds.</p>
</body></html>
{{end}}

{{define "notfound"}}{{template "head"}}
<title>Not found</title></head><body>
<h1 id="title">Not found</h1>
<p>Labs are at <code>/labs/&lt;namespace&gt;/&lt;name&gt;/</code>.</p>
</body></html>
{{end}}

{{define "storedown"}}{{template "head"}}
<title>Try again</title></head><body>
<h1 id="title">labd cannot look up labs right now</h1>
<p>Try again in a moment.</p>
</body></html>
{{end}}
`))

// Pages, by template name.
const (
	pageUnauthorized = "unauthorized"
	pageStarting     = "starting"
	pageFailed       = "failed"
	pageEnded        = "ended"
	pageNoApp        = "noapp"
	pageAppDown      = "appdown"
	pageNotFound     = "notfound"
	pageStoreDown    = "storedown"
)

// refresh is how often a waiting page reloads itself, by page.
var refresh = map[string]int{pageStarting: 2, pageAppDown: 5}

// writePage answers with one of the gateway's pages.
func writePage(w http.ResponseWriter, r *http.Request, status int, page string, v *pageView) {
	if v != nil {
		v.Refresh = refresh[page]
	}
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, page, v); err != nil {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}
