package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// fastRetry keeps retry tests quick while still exercising the backoff.
var fastRetry = RetryPolicy{MaxAttempts: 4, MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, MaxRetryAfter: 3 * time.Second}

func newTestClient(t *testing.T, h http.Handler, opts ...Option) (*Client, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, append([]Option{WithRetry(fastRetry)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

func problem(w http.ResponseWriter, status int, code, detail string, fields ...api.FieldError) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, Code: code, Errors: fields})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func lab(ns, name string, rv int64, phase api.Phase) *api.LabInstanceRequest {
	return &api.LabInstanceRequest{
		APIVersion: api.APIVersion, Kind: api.Kind,
		Metadata: api.ObjectMeta{Namespace: ns, Name: name, UID: "uid-" + name, ResourceVersion: rv},
		Spec:     api.Spec{LabTemplate: "python:3.9-alpine", StudentEmail: "s@u.edu", DurationMinutes: 60},
		Status:   api.Status{Phase: phase},
	}
}

func TestNewValidatesEndpoint(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"ftp://x", "localhost:8000", "http://", "http://h/?q=1", "::"} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%q): want error", bad)
		}
	}
	c, err := New("")
	if err != nil || c.Endpoint() != DefaultEndpoint+"/" {
		t.Fatalf("New(\"\") = %v, %v; want default endpoint", c, err)
	}
	if _, err := New("https://h", WithHTTPClient(http.DefaultClient), WithInsecureSkipVerify(true)); err == nil {
		t.Error("TLS option with custom HTTP client: want error")
	}
	if _, err := New("https://h", WithCAPEM([]byte("not a cert"))); err == nil {
		t.Error("bad CA PEM: want error")
	}
}

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	type answer struct {
		status int
		ctype  string
		body   string
	}
	cases := []struct {
		name       string
		ans        answer
		wantCode   string
		wantMsg    string
		wantFields int
	}{
		{"problem with code", answer{409, "application/problem+json", `{"status":409,"title":"Conflict","detail":"lab default/x already exists","code":"already_exists"}`}, api.EALREADYEXISTS, "lab default/x already exists", 0},
		{"404 without code", answer{404, "application/problem+json", `{"status":404,"title":"Not Found","detail":"lab default/x not found"}`}, api.ENOTFOUND, "lab default/x not found", 0},
		{"409 without code", answer{409, "application/problem+json", `{"status":409,"title":"Conflict"}`}, api.ECONFLICT, "Conflict", 0},
		{"410", answer{410, "application/problem+json", `{"status":410,"detail":"resource version 3 is too old"}`}, api.EGONE, "resource version 3 is too old", 0},
		{"422 fields", answer{422, "application/problem+json", `{"status":422,"detail":"validation failed","errors":[{"field":"spec.duration_minutes","message":"must be between 1 and 480 minutes"},{"field":"spec.student_email","message":"bad"}]}`}, api.EINVALID, "validation failed", 2},
		{"400", answer{400, "application/problem+json", `{"status":400,"detail":"unknown field \"foo\""}`}, api.EBADREQUEST, `unknown field "foo"`, 0},
		{"401 plain", answer{401, "text/plain", "nope"}, api.EUNAUTHORIZED, "unauthorized", 0},
		{"403", answer{403, "application/problem+json", `{"status":403,"detail":"read-only token"}`}, api.EFORBIDDEN, "read-only token", 0},
		{"413", answer{413, "", ""}, api.ETOOLARGE, "request entity too large", 0},
		{"415", answer{415, "application/problem+json", `{"status":415,"detail":"use JSON"}`}, api.EUNSUPPORTED, "use JSON", 0},
		{"unknown code falls back to status", answer{404, "application/problem+json", `{"status":404,"detail":"x","code":"weird"}`}, api.ENOTFOUND, "x", 0},
		{"html from a proxy", answer{418, "text/html", "<html>teapot</html>"}, api.EBADREQUEST, "i'm a teapot", 0},
		{"412 from a proxy", answer{412, "text/html", "<html>precondition</html>"}, api.ECONFLICT, "precondition failed", 0},
		{"405 with its code", answer{405, "application/problem+json", `{"status":405,"detail":"method PUT is not allowed","code":"method_not_allowed"}`}, api.EMETHODNOTALLOWED, "method PUT is not allowed", 0},
		{"fenced keeps its code", answer{503, "application/problem+json", `{"status":503,"detail":"leader epoch 3 is over","code":"fenced"}`}, api.EFENCED, "leader epoch 3 is over", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.ans.ctype != "" {
					w.Header().Set("Content-Type", tc.ans.ctype)
				}
				w.WriteHeader(tc.ans.status)
				_, _ = io.WriteString(w, tc.ans.body)
			}))
			_, err := c.Get(t.Context(), api.Key{Namespace: "default", Name: "x"})
			var e *api.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %#v, want *api.Error", err)
			}
			if e.Code != tc.wantCode || e.Message != tc.wantMsg || len(e.Fields) != tc.wantFields {
				t.Errorf("got code %q msg %q fields %v; want %q %q %d", e.Code, e.Message, e.Fields, tc.wantCode, tc.wantMsg, tc.wantFields)
			}
		})
	}
	t.Run("5xx", func(t *testing.T) {
		t.Parallel()
		for status, want := range map[int]string{500: api.EINTERNAL, 502: api.EINTERNAL, 503: api.EUNAVAILABLE, 429: api.EUNAVAILABLE} {
			c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) }),
				WithRetry(RetryPolicy{MaxAttempts: 1}))
			_, err := c.Get(t.Context(), api.Key{Name: "x"})
			if got := api.ErrorCode(err); got != want {
				t.Errorf("status %d: code %q, want %q", status, got, want)
			}
		}
	})
	t.Run("helpers", func(t *testing.T) {
		t.Parallel()
		c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { problem(w, 404, "not_found", "gone") }))
		_, err := c.Get(t.Context(), api.Key{Name: "x"})
		if !api.IsNotFound(err) || api.IsConflict(err) {
			t.Errorf("IsNotFound/IsConflict wrong for %v", err)
		}
	})
}

// TestCodeForStatus: a 409 (or a proxy's 412) without a known code takes
// the code the request expects of a conflict; every other status maps
// through the table in internal/api.
func TestCodeForStatus(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status   int
		conflict string
		want     string
	}{
		{409, "", api.ECONFLICT},
		{409, api.EALREADYEXISTS, api.EALREADYEXISTS},
		{412, api.EALREADYEXISTS, api.EALREADYEXISTS},
		{412, "", api.ECONFLICT},
		{404, api.EALREADYEXISTS, api.ENOTFOUND},
		{422, "", api.EINVALID},
		{503, "", api.EUNAVAILABLE},
		{429, api.EALREADYEXISTS, api.EUNAVAILABLE},
		{500, "", api.EINTERNAL},
	}
	for _, tc := range cases {
		if got := codeForStatus(tc.status, tc.conflict); got != tc.want {
			t.Errorf("codeForStatus(%d, %q) = %q, want %q", tc.status, tc.conflict, got, tc.want)
		}
	}
}

// TestRetryTransient: 5xx and 429 are retried with growing waits until the
// server recovers, and the number of attempts is bounded.
func TestRetryTransient(t *testing.T) {
	t.Parallel()
	for _, status := range []int{502, 503, 504, 500, 429} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			t.Parallel()
			var n atomic.Int32
			var times []time.Time
			var mu sync.Mutex
			c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				times = append(times, time.Now())
				mu.Unlock()
				if n.Add(1) <= 2 {
					problem(w, status, "", "try later")
					return
				}
				writeJSON(w, 200, lab("default", "x", 5, api.PhasePending))
			}))
			got, err := c.Get(t.Context(), api.Key{Namespace: "default", Name: "x"})
			if err != nil {
				t.Fatal(err)
			}
			if got.Metadata.ResourceVersion != 5 || n.Load() != 3 {
				t.Fatalf("rv %d after %d attempts; want 5 after 3", got.Metadata.ResourceVersion, n.Load())
			}
			// Equal jitter: the n-th wait is at least half of MinBackoff*2^n.
			if d := times[1].Sub(times[0]); d < fastRetry.MinBackoff/2 {
				t.Errorf("first wait %v, want >= %v", d, fastRetry.MinBackoff/2)
			}
			if d := times[2].Sub(times[1]); d < fastRetry.MinBackoff {
				t.Errorf("second wait %v, want >= %v", d, fastRetry.MinBackoff)
			}
		})
	}
	t.Run("bounded", func(t *testing.T) {
		t.Parallel()
		var n atomic.Int32
		c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			problem(w, 503, "unavailable", "database down")
		}))
		start := time.Now()
		_, err := c.Get(t.Context(), api.Key{Name: "x"})
		if api.ErrorCode(err) != api.EUNAVAILABLE || !strings.Contains(err.Error(), "database down") {
			t.Fatalf("err = %v, want the server's unavailable error", err)
		}
		if n.Load() != int32(fastRetry.MaxAttempts) {
			t.Errorf("%d attempts, want %d", n.Load(), fastRetry.MaxAttempts)
		}
		// 3 waits of at most 10, 20, 40ms.
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v, want well under 2s", d)
		}
	})
	t.Run("not retried", func(t *testing.T) {
		t.Parallel()
		for _, status := range []int{400, 404, 409, 422, 501} {
			var n atomic.Int32
			c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				problem(w, status, "", "no")
			}))
			_, _ = c.Get(t.Context(), api.Key{Name: "x"})
			if n.Load() != 1 {
				t.Errorf("status %d: %d attempts, want 1", status, n.Load())
			}
		}
	})
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	t.Run("honoured", func(t *testing.T) {
		t.Parallel()
		var n atomic.Int32
		var first, second time.Time
		c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 1 {
				first = time.Now()
				w.Header().Set("Retry-After", "1")
				problem(w, 429, "", "slow down")
				return
			}
			second = time.Now()
			writeJSON(w, 200, lab("default", "x", 1, api.PhasePending))
		}))
		if _, err := c.Get(t.Context(), api.Key{Name: "x"}); err != nil {
			t.Fatal(err)
		}
		if d := second.Sub(first); d < 950*time.Millisecond {
			t.Errorf("retried after %v, want >= 1s as the server asked", d)
		}
	})
	t.Run("too long is not waited for", func(t *testing.T) {
		t.Parallel()
		var n atomic.Int32
		c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			w.Header().Set("Retry-After", "3600")
			problem(w, 503, "", "maintenance")
		}))
		start := time.Now()
		_, err := c.Get(t.Context(), api.Key{Name: "x"})
		if api.ErrorCode(err) != api.EUNAVAILABLE || n.Load() != 1 || time.Since(start) > time.Second {
			t.Errorf("err %v after %d attempts in %v; want the 503 at once", err, n.Load(), time.Since(start))
		}
	})
	t.Run("beyond the deadline is not waited for", func(t *testing.T) {
		t.Parallel()
		c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "2")
			problem(w, 503, "", "busy")
		}))
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Get(ctx, api.Key{Name: "x"})
		if api.ErrorCode(err) != api.EUNAVAILABLE || time.Since(start) > 400*time.Millisecond {
			t.Errorf("err %v after %v; want the 503 without waiting", err, time.Since(start))
		}
	})
	t.Run("parse", func(t *testing.T) {
		t.Parallel()
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		for in, want := range map[string]time.Duration{
			"": 0, "7": 7 * time.Second, "-1": 0, "x": 0,
			now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
			now.Add(-time.Hour).Format(http.TimeFormat):       0,
		} {
			if got := retryAfter(in, now); got != want {
				t.Errorf("retryAfter(%q) = %v, want %v", in, got, want)
			}
		}
	})
}

// TestRetryContextCancel: a cancelled context ends the retry loop at once.
func TestRetryContextCancel(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		problem(w, 503, "", "busy")
	}), WithRetry(RetryPolicy{MaxAttempts: 100, MinBackoff: 200 * time.Millisecond, MaxBackoff: time.Second}))
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(150*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Get(ctx, api.Key{Name: "x"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("returned %v after cancel; want promptly", d)
	}

	// A request hanging on a slow server is cut by the context too.
	block := make(chan struct{})
	defer close(block)
	c2, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	ctx2, cancel2 := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel2()
	_, err = c2.Get(ctx2, api.Key{Name: "x"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}

// flakyDialer refuses the first n dials the way a closed port does.
type flakyDialer struct {
	n     atomic.Int32
	fails int32
}

func (d *flakyDialer) transport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	var nd net.Dialer
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if d.n.Add(1) <= d.fails {
			return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connect: connection refused")}
		}
		return nd.DialContext(ctx, network, addr)
	}
	return tr
}

func TestCreateRetries(t *testing.T) {
	t.Parallel()
	t.Run("dial errors are retried", func(t *testing.T) {
		t.Parallel()
		var posts atomic.Int32
		d := &flakyDialer{fails: 2}
		c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			posts.Add(1)
			var m manifest
			_ = json.NewDecoder(r.Body).Decode(&m)
			l := lab(m.Metadata.Namespace, m.Metadata.Name, 3, api.PhasePending)
			l.Metadata.Annotations = m.Metadata.Annotations
			writeJSON(w, 201, l)
		}), WithHTTPClient(&http.Client{Transport: d.transport()}))
		got, err := c.Create(t.Context(), lab("default", "x", 0, ""))
		if err != nil {
			t.Fatal(err)
		}
		if posts.Load() != 1 || d.n.Load() != 3 || got.Metadata.Annotations[AnnotationRequestID] == "" {
			t.Errorf("posts %d dials %d annotations %v; want 1 post after 3 dials, with a request id", posts.Load(), d.n.Load(), got.Metadata.Annotations)
		}
	})
	t.Run("5xx after sending is not retried", func(t *testing.T) {
		t.Parallel()
		for _, status := range []int{500, 502, 504} {
			var posts atomic.Int32
			c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				posts.Add(1)
				problem(w, status, "", "upstream")
			}))
			_, err := c.Create(t.Context(), lab("default", "x", 0, ""))
			if err == nil || posts.Load() != 1 {
				t.Errorf("status %d: err %v after %d posts; want error after 1", status, err, posts.Load())
			}
		}
	})
	t.Run("reset after sending is not retried", func(t *testing.T) {
		t.Parallel()
		var posts atomic.Int32
		c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			posts.Add(1)
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}))
		_, err := c.Create(t.Context(), lab("default", "x", 0, ""))
		if err == nil || posts.Load() != 1 {
			t.Errorf("err %v after %d posts; want error after 1", err, posts.Load())
		}
		// A GET is idempotent: the same failure is retried.
		var gets atomic.Int32
		c2, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if gets.Add(1) == 1 {
				conn, _, _ := w.(http.Hijacker).Hijack()
				conn.Close()
				return
			}
			writeJSON(w, 200, lab("default", "x", 1, api.PhasePending))
		}))
		if _, err := c2.Get(t.Context(), api.Key{Name: "x"}); err != nil || gets.Load() != 2 {
			t.Errorf("GET: err %v after %d attempts; want success after 2", err, gets.Load())
		}
	})

	// The first attempt is answered 503 although the object was stored (an
	// ambiguous proxy); the retry meets 409 already_exists. The object
	// carries this call's request id, so Create returns it.
	for _, ours := range []bool{true, false} {
		t.Run(fmt.Sprintf("409 after retry, ours=%v", ours), func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var stored *api.LabInstanceRequest
			c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				switch r.Method {
				case http.MethodPost:
					if stored != nil {
						problem(w, 409, "already_exists", "lab default/x already exists")
						return
					}
					var m manifest
					_ = json.NewDecoder(r.Body).Decode(&m)
					stored = lab("default", "x", 7, api.PhasePending)
					stored.Metadata.Annotations = m.Metadata.Annotations
					if !ours {
						stored.Metadata.Annotations = api.StringMap{AnnotationRequestID: "someone-else"}
					}
					problem(w, 503, "", "proxy gave up")
				case http.MethodGet:
					writeJSON(w, 200, stored)
				}
			}))
			got, err := c.Create(t.Context(), lab("default", "x", 0, ""))
			if ours && (err != nil || got.Metadata.ResourceVersion != 7) {
				t.Errorf("ours: got %v, %v; want the stored object", got, err)
			}
			if !ours && api.ErrorCode(err) != api.EALREADYEXISTS {
				t.Errorf("not ours: err %v, want already_exists", err)
			}
		})
	}
}

func TestRequests(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, path, query, ctype, auth, ua string
		body                                 map[string]any
	}
	var mu sync.Mutex
	var got []seen
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		got = append(got, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), r.Header.Get("User-Agent"), body})
		mu.Unlock()
		switch {
		case r.Method == http.MethodDelete && r.URL.Query().Get("namespace") == "fin":
			writeJSON(w, 202, lab("fin", "x", 9, api.PhaseRunning))
		case r.Method == http.MethodDelete:
			writeJSON(w, 200, lab("default", "x", 9, api.PhaseRunning))
		case r.URL.Path == "/prefix/api/lab-instances/":
			l := api.LabInstanceRequestList{Items: []api.LabInstanceRequest{*lab("default", "a", 1, api.PhasePending)}}
			l.Metadata.ResourceVersion = 10
			if r.URL.Query().Get("continue") == "" {
				l.Metadata.Continue = "page2"
			} else {
				l.Items[0].Metadata.Name = "b"
				l.Metadata.ResourceVersion = 11
			}
			writeJSON(w, 200, l)
		default:
			writeJSON(w, 200, lab("default", "x", 9, api.PhaseRunning))
		}
	}), WithToken("s3cret"), WithUserAgent("terraform-provider-lab/1.2.3"))
	// An endpoint with a path keeps it as a prefix of every route.
	c, err := New(c.Endpoint()+"prefix", WithToken("s3cret"), WithUserAgent("terraform-provider-lab/1.2.3"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	key := api.Key{Namespace: "default", Name: "x"}

	all, err := c.ListAll(ctx, ListOptions{Namespace: "default", Phase: api.PhaseRunning, StudentEmail: "s@u.edu", LabelSelector: map[string]string{"team": "b", "course": "go"}, Limit: 1})
	if err != nil || len(all.Items) != 2 || all.Items[1].Metadata.Name != "b" || all.Metadata.ResourceVersion != 10 {
		t.Fatalf("ListAll = %+v, %v; want a, b at the first page's version 10", all, err)
	}
	if _, err := c.Update(ctx, lab("default", "x", 0, "")); api.ErrorCode(err) != api.EINVALID {
		t.Errorf("Update without resource_version: %v, want EINVALID", err)
	}
	u := lab("default", "x", 8, api.PhaseRunning)
	u.Metadata.Labels = api.StringMap{"team": "a"}
	if _, err := c.Update(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Patch(ctx, key, map[string]any{"spec": map[string]any{"duration_minutes": 90}}, 8); err != nil {
		t.Fatal(err)
	}
	if _, deleted, err := c.Delete(ctx, key); err != nil || !deleted {
		t.Errorf("Delete 200: deleted=%v err=%v", deleted, err)
	}
	if obj, deleted, err := c.Delete(ctx, api.Key{Namespace: "fin", Name: "x"}); err != nil || deleted || obj.Metadata.Namespace != "fin" {
		t.Errorf("Delete 202: deleted=%v err=%v", deleted, err)
	}
	if _, err := c.Start(ctx, key); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	want := []struct{ method, path, query string }{
		{"GET", "/prefix/api/lab-instances/", "label_selector=course%3Dgo%2Cteam%3Db&limit=1&namespace=default&phase=RUNNING&student_email=s%40u.edu"},
		{"GET", "/prefix/api/lab-instances/", "continue=page2&label_selector=course%3Dgo%2Cteam%3Db&limit=1&namespace=default&phase=RUNNING&student_email=s%40u.edu"},
		{"PUT", "/prefix/api/lab-instances/x", "namespace=default"},
		{"PATCH", "/prefix/api/lab-instances/x", "namespace=default"},
		{"DELETE", "/prefix/api/lab-instances/x", "namespace=default"},
		{"DELETE", "/prefix/api/lab-instances/x", "namespace=fin"},
		{"POST", "/prefix/api/lab-instances/x/start", "namespace=default"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d requests, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.method != w.method || g.path != w.path || g.query != w.query {
			t.Errorf("request %d: %s %s?%s, want %s %s?%s", i, g.method, g.path, g.query, w.method, w.path, w.query)
		}
		if g.auth != "Bearer s3cret" || g.ua != "terraform-provider-lab/1.2.3" {
			t.Errorf("request %d: auth %q ua %q", i, g.auth, g.ua)
		}
	}
	put := got[2]
	meta, _ := put.body["metadata"].(map[string]any)
	if put.ctype != "application/json" || meta["resource_version"] != float64(8) || put.body["status"] != nil || meta["uid"] != nil {
		t.Errorf("PUT body %v (%s): want resource_version 8, no status, no uid", put.body, put.ctype)
	}
	patch := got[3]
	pmeta, _ := patch.body["metadata"].(map[string]any)
	if patch.ctype != "application/merge-patch+json" || pmeta["resource_version"] != float64(8) {
		t.Errorf("PATCH %s body %v: want merge patch with resource_version 8", patch.ctype, patch.body)
	}
}

func TestStatusEndpoints(t *testing.T) {
	t.Parallel()
	var ready atomic.Bool
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/status/health":
			writeJSON(w, 200, api.Health{Status: "healthy", Service: api.ServiceName, Version: "v1"})
		case "/api/status/ready":
			if ready.Load() {
				writeJSON(w, 200, api.Ready{Status: "ready", Checks: map[string]string{"database": "ok"}})
			} else {
				writeJSON(w, 503, api.Ready{Status: "not_ready", Checks: map[string]string{"database": "ok", "docker": "connection refused"}})
			}
		case "/api/status/leader":
			writeJSON(w, 200, api.LeaderStatus{IsLeader: true, Identity: "a", Leader: "a", Epoch: 3})
		case "/api/status/bookmarks":
			writeJSON(w, 200, api.BookmarkStatus{Bookmark: 5, CurrentVersion: 7, Lag: 2})
		default:
			problem(w, 404, "not_found", "no route")
		}
	}))
	ctx := t.Context()
	if h, err := c.Health(ctx); err != nil || h.Status != "healthy" {
		t.Errorf("Health = %+v, %v", h, err)
	}
	r, err := c.Ready(ctx)
	if api.ErrorCode(err) != api.EUNAVAILABLE || r == nil || r.Checks["docker"] != "connection refused" || !strings.Contains(err.Error(), "docker: connection refused") {
		t.Errorf("Ready (503) = %+v, %v; want the failing check", r, err)
	}
	ready.Store(true)
	if r, err := c.Ready(ctx); err != nil || r.Status != "ready" {
		t.Errorf("Ready = %+v, %v", r, err)
	}
	if l, err := c.Leader(ctx); err != nil || l.Epoch != 3 {
		t.Errorf("Leader = %+v, %v", l, err)
	}
	if b, err := c.Bookmarks(ctx); err != nil || b.Lag != 2 {
		t.Errorf("Bookmarks = %+v, %v", b, err)
	}
	if _, err := c.Status(ctx); !api.IsNotFound(err) {
		t.Errorf("Status on a server without it: %v, want not found", err)
	}
}

func TestLogs(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("lines") != "2" {
			problem(w, 400, "", "lines")
			return
		}
		switch r.URL.Query().Get("namespace") {
		case "text":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, "a\nb\n")
		case "json":
			writeJSON(w, 200, map[string]any{"logs": "a\nb\n"})
		default:
			writeJSON(w, 200, map[string]any{"lines": []string{"a", "b"}})
		}
	}))
	for _, ns := range []string{"text", "json", "lines"} {
		got, err := c.Logs(t.Context(), api.Key{Namespace: ns, Name: "x"}, 2)
		if err != nil || got != "a\nb\n" {
			t.Errorf("%s: Logs = %q, %v", ns, got, err)
		}
	}
}

func TestAccess(t *testing.T) {
	t.Parallel()
	token := "4JFW5XU2QKTN7ZHM3LPYBVC6AE"
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("namespace") != "cs" {
			problem(w, 400, "", "namespace")
			return
		}
		switch r.Method + " " + r.URL.Path {
		case "GET /api/lab-instances/l1/access":
			writeJSON(w, 200, api.LabAccess{URL: "http://gw/labs/cs/l1/", Token: token})
		case "POST /api/lab-instances/l1/access/rotate":
			writeJSON(w, 200, api.LabAccess{URL: "http://gw/labs/cs/l1/", Token: "new-" + token})
		default:
			problem(w, 404, api.ENOTFOUND, "no lab")
		}
	}))
	key := api.Key{Namespace: "cs", Name: "l1"}
	got, err := c.Access(t.Context(), key)
	if err != nil || got.Token != token || got.URL != "http://gw/labs/cs/l1/" {
		t.Fatalf("Access = %+v, %v", got, err)
	}
	if got, err := c.RotateAccess(t.Context(), key); err != nil || got.Token != "new-"+token {
		t.Fatalf("RotateAccess = %+v, %v", got, err)
	}
	if _, err := c.Access(t.Context(), api.Key{Namespace: "cs", Name: "l2"}); !api.IsNotFound(err) {
		t.Fatalf("Access of a missing lab: %v", err)
	}
}
