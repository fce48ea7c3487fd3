// Package client is a typed client of labd's REST API, shared by the
// Terraform provider and the server's own tests.
//
// Every method takes a context first and returns the server's RFC 7807
// errors as *api.Error, so callers branch with api.IsNotFound,
// api.IsConflict and api.ErrorCode exactly as the server does. Transient
// failures (connection refused or reset, 429, 5xx) are retried with
// exponential backoff and jitter, honouring Retry-After and the context,
// but only where a retry cannot do a write twice: see RetryPolicy.
package client

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/wait"
)

// Defaults.
const (
	DefaultEndpoint       = "http://localhost:8000"
	DefaultUserAgent      = "labrm-lab-client"
	DefaultRequestTimeout = time.Minute

	// maxErrorBody bounds how much of an error response is read.
	maxErrorBody = 64 << 10
	// maxBody bounds a successful response; the server caps requests at
	// 1 MiB and a list page at 1000 objects.
	maxBody = 64 << 20
)

// Client talks to one labd endpoint. It is safe for concurrent use.
type Client struct {
	base           *url.URL
	http           *http.Client
	token          string
	userAgent      string
	retry          RetryPolicy
	requestTimeout time.Duration
	log            *slog.Logger
}

type config struct {
	token          string
	httpClient     *http.Client
	caPEM          [][]byte
	caFiles        []string
	insecure       bool
	userAgent      string
	retry          RetryPolicy
	requestTimeout time.Duration
	log            *slog.Logger
}

// Option configures a Client.
type Option func(*config)

// WithToken sends "Authorization: Bearer <token>" on every request.
func WithToken(token string) Option { return func(c *config) { c.token = token } }

// WithHTTPClient uses hc instead of a client made by New. TLS options cannot
// be combined with it: configure hc's transport instead.
func WithHTTPClient(hc *http.Client) Option { return func(c *config) { c.httpClient = hc } }

// WithCAPEM trusts the PEM-encoded CA certificates in pem, in addition to
// the system's roots, for an HTTPS endpoint with a private CA.
func WithCAPEM(pem []byte) Option { return func(c *config) { c.caPEM = append(c.caPEM, pem) } }

// WithCAFile is WithCAPEM with the certificates read from a file.
func WithCAFile(path string) Option { return func(c *config) { c.caFiles = append(c.caFiles, path) } }

// WithInsecureSkipVerify turns off TLS certificate verification. Only for
// tests and throw-away set-ups: anyone on the path can then read the token.
func WithInsecureSkipVerify(insecure bool) Option { return func(c *config) { c.insecure = insecure } }

// WithUserAgent sets the User-Agent header, so that server logs tell which
// tool (and which version of it) made a request.
func WithUserAgent(ua string) Option { return func(c *config) { c.userAgent = ua } }

// WithRetry sets the retry policy; zero fields take their defaults.
func WithRetry(p RetryPolicy) Option { return func(c *config) { c.retry = p } }

// WithRequestTimeout bounds each attempt of a non-streaming request (the
// context bounds the whole call). Watches are bounded by their context only.
func WithRequestTimeout(d time.Duration) Option { return func(c *config) { c.requestTimeout = d } }

// WithLogger logs retries at debug level.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// New returns a client of the labd at endpoint ("" means DefaultEndpoint),
// e.g. "http://localhost:8000" or "https://labs.example.edu/". A path in
// the endpoint is kept as a prefix of every route.
func New(endpoint string, opts ...Option) (*Client, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	endpoint = cmp.Or(strings.TrimSpace(endpoint), DefaultEndpoint)
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("parse endpoint %q: %w", endpoint, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("endpoint %q: scheme must be http or https", endpoint)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("endpoint %q: host is missing", endpoint)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("endpoint %q: must not have a query or fragment", endpoint)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	u.RawPath = ""

	hc := cfg.httpClient
	tlsWanted := cfg.insecure || len(cfg.caPEM) > 0 || len(cfg.caFiles) > 0
	if hc != nil && tlsWanted {
		return nil, errors.New("TLS options cannot be combined with WithHTTPClient: configure its transport instead")
	}
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.ResponseHeaderTimeout = cmp.Or(cfg.requestTimeout, DefaultRequestTimeout)
		if tlsWanted {
			tc, err := tlsConfig(cfg)
			if err != nil {
				return nil, err
			}
			tr.TLSClientConfig = tc
		}
		// No Client.Timeout: it would cut watch streams. Each attempt of an
		// ordinary request gets its own context deadline instead.
		hc = &http.Client{Transport: tr}
	}
	return &Client{
		base:           u,
		http:           hc,
		token:          cfg.token,
		userAgent:      cmp.Or(cfg.userAgent, DefaultUserAgent),
		retry:          cfg.retry.withDefaults(),
		requestTimeout: cmp.Or(cfg.requestTimeout, DefaultRequestTimeout),
		log:            cmp.Or(cfg.log, slog.New(slog.DiscardHandler)),
	}, nil
}

func tlsConfig(cfg config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.insecure} //nolint:gosec // opt-in
	if len(cfg.caPEM) == 0 && len(cfg.caFiles) == 0 {
		return tc, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	for _, f := range cfg.caFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate found", f)
		}
	}
	for _, b := range cfg.caPEM {
		if !pool.AppendCertsFromPEM(b) {
			return nil, errors.New("CA PEM: no PEM certificate found")
		}
	}
	tc.RootCAs = pool
	return tc, nil
}

// Endpoint returns the base URL requests are made against.
func (c *Client) Endpoint() string { return c.base.String() }

// request describes one API call.
type request struct {
	method string
	path   string // relative to the endpoint, e.g. "api/lab-instances/"
	query  url.Values
	body   []byte
	ctype  string
	accept string
	// idempotent requests are retried on every transient failure; others
	// only when the server surely did not act on them (see RetryPolicy).
	idempotent bool
	// stream: no per-attempt timeout (the caller reads the body as a stream).
	stream bool
	// conflictCode is the code a 409 without a problem code maps to.
	conflictCode string
}

// result is a successful response; body is fully read unless the request
// was a stream, in which case resp.Body is left open for the caller.
type result struct {
	resp     *http.Response
	body     []byte
	attempts int
	cancel   context.CancelFunc
}

// do sends r, retrying per the policy, and returns the first 2xx response
// or the decoded error of the last attempt.
func (c *Client) do(ctx context.Context, r request) (*result, error) {
	u := c.base.JoinPath(r.path)
	if strings.HasSuffix(r.path, "/") && !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	target := u.String()
	var b backoff
	for attempt := 1; ; attempt++ {
		res, retryAfter, err := c.attempt(ctx, r, target)
		if err == nil {
			res.attempts = attempt
			return res, nil
		}
		if !c.retryable(r, err) || attempt >= c.retry.MaxAttempts || ctx.Err() != nil {
			return nil, unwrapStatus(err)
		}
		delay := b.next(c.retry)
		if retryAfter > 0 {
			if retryAfter > c.retry.MaxRetryAfter {
				return nil, unwrapStatus(err)
			}
			delay = max(delay, retryAfter)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < delay {
			return nil, unwrapStatus(err) // the retry could not finish in time anyway
		}
		c.log.DebugContext(ctx, "retrying request", "method", r.method, "url", target, "attempt", attempt, "delay", delay, "error", err)
		if serr := wait.Sleep(ctx, delay); serr != nil {
			return nil, fmt.Errorf("%s %s: %w (while retrying after: %v)", r.method, redact(target), serr, unwrapStatus(err))
		}
	}
}

// attempt makes one HTTP request. On failure it returns the error and any
// Retry-After delay the server asked for.
func (c *Client) attempt(ctx context.Context, r request, target string) (*result, time.Duration, error) {
	var actx context.Context
	var cancel context.CancelFunc
	if r.stream {
		actx, cancel = context.WithCancel(ctx)
	} else {
		actx, cancel = context.WithTimeout(ctx, c.requestTimeout)
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(actx, r.method, target, body)
	if err != nil {
		cancel()
		return nil, 0, fmt.Errorf("build request: %w", err)
	}
	if r.body != nil {
		req.Header.Set("Content-Type", cmp.Or(r.ctype, "application/json"))
	}
	req.Header.Set("Accept", cmp.Or(r.accept, "application/json"))
	req.Header.Set("User-Agent", c.userAgent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		cancel()
		if ctx.Err() != nil {
			return nil, 0, fmt.Errorf("%s %s: %w", r.method, redact(target), context.Cause(ctx))
		}
		return nil, 0, &transportError{method: r.method, url: redact(target), err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer cancel()
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		se := &statusError{status: resp.StatusCode, body: b, err: decodeError(resp, b, r.conflictCode)}
		return nil, retryAfter(resp.Header.Get("Retry-After"), time.Now()), se
	}
	if r.stream {
		return &result{resp: resp, cancel: cancel}, 0, nil
	}
	defer cancel()
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, fmt.Errorf("%s %s: %w", r.method, redact(target), context.Cause(ctx))
		}
		return nil, 0, &transportError{method: r.method, url: redact(target), err: fmt.Errorf("read response: %w", err), afterSend: true}
	}
	return &result{resp: resp, body: b}, 0, nil
}

// doJSON sends r and decodes a successful JSON response into out.
func (c *Client) doJSON(ctx context.Context, r request, out any) (*result, error) {
	res, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	if out != nil {
		if err := json.Unmarshal(res.body, out); err != nil {
			return nil, fmt.Errorf("decode %s response: %w", r.method, err)
		}
	}
	return res, nil
}

func marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return b, nil
}

// redact drops user info from a URL for error messages.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = nil
	return u.String()
}
