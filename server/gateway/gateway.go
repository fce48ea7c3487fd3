package gateway

import (
	"cmp"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// Store is what the gateway needs of labd's store; *store.DB is one.
type Store interface {
	// GatewayLab reads a lab and its access token ("" if it has none).
	GatewayLab(ctx context.Context, key api.Key) (*api.LabInstanceRequest, string, error)
	// RecordActivity writes a batch of last uses.
	RecordActivity(ctx context.Context, seen []store.Activity) (int, error)
}

// Config configures a Gateway. Store is required.
type Config struct {
	Store Store
	// Scheme and Host are how students reach the gateway: "https" and
	// "labs.example.edu" (a port, if not the scheme's default, included).
	// Defaults: http, localhost.
	Scheme string
	Host   string
	// Domain, when set, also serves each lab by host name,
	// {name}--{namespace}.{Domain}, and access URLs use it.
	Domain string
	// IsAPIToken reports whether a bearer token is one of labd's API
	// tokens, so that an Authorization header carrying one is not
	// forwarded to a lab. Nil: labd has none.
	IsAPIToken func(token string) bool

	// CacheTTL is how long a lab read from the store is used (default 1s).
	CacheTTL time.Duration
	// FlushInterval is how often activity is written (default 15s).
	FlushInterval time.Duration
	// Transport dials labs' apps; default a Transport that dials directly
	// (never through an environment proxy) and keeps connections alive.
	Transport http.RoundTripper

	Logger *slog.Logger
	Now    func() time.Time // activity times; default time.Now
}

// Defaults of Config.
const (
	DefaultCacheTTL      = time.Second
	DefaultFlushInterval = 15 * time.Second
)

// PathPrefix is where labs are served by path: /labs/{namespace}/{name}/.
const PathPrefix = "/labs/"

// Gateway serves labs. Build it with New; it is safe for concurrent use.
type Gateway struct {
	cfg      Config
	log      *slog.Logger
	proxy    *httputil.ReverseProxy
	cache    *cache
	activity *activity
}

// New returns a Gateway for cfg. It panics without a Store.
func New(cfg Config) *Gateway {
	if cfg.Store == nil {
		panic("gateway: Config.Store is required")
	}
	cfg.Scheme = cmp.Or(cfg.Scheme, "http")
	cfg.Host = cmp.Or(cfg.Host, "localhost")
	cfg.Domain = strings.ToLower(strings.Trim(cfg.Domain, "."))
	cfg.CacheTTL = cmp.Or(cfg.CacheTTL, DefaultCacheTTL)
	cfg.FlushInterval = cmp.Or(cfg.FlushInterval, DefaultFlushInterval)
	cfg.Logger = cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Transport == nil {
		cfg.Transport = NewTransport()
	}
	g := &Gateway{cfg: cfg, log: cfg.Logger}
	g.cache = newCache(cfg.Store, cfg.CacheTTL)
	g.activity = newActivity(cfg.Store, cfg.Now, cfg.Logger)
	g.proxy = g.newProxy()
	return g
}

// NewTransport is the gateway's default transport to labs' apps: direct
// dials (no environment proxy), connections kept for reuse, no HTTP/2
// (apps speak HTTP/1.1), no transparent compression (the client's
// Accept-Encoding is passed on as it is).
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
}

// URL is the URL students open to reach the lab: by host name with a
// Domain, else by path.
func (g *Gateway) URL(key api.Key) string {
	u := url.URL{Scheme: g.cfg.Scheme, Host: g.cfg.Host, Path: labPath(key) + "/"}
	if g.cfg.Domain != "" {
		host := hostLabel(key) + "." + g.cfg.Domain
		if _, port, err := net.SplitHostPort(g.cfg.Host); err == nil {
			host = net.JoinHostPort(host, port)
		}
		u.Host, u.Path = host, "/"
	}
	return u.String()
}

// labPath is the lab's path prefix, without the trailing slash.
func labPath(key api.Key) string { return PathPrefix + key.Namespace + "/" + key.Name }

// hostLabel is the lab's host name under Domain.
func hostLabel(key api.Key) string { return key.Name + "--" + key.Namespace }

// Forget drops what the gateway holds of a lab, so that the next request
// reads it again (after its token was rotated here).
func (g *Gateway) Forget(key api.Key) { g.cache.forget(key) }

// Run writes activity every FlushInterval until ctx ends, then once more.
func (g *Gateway) Run(ctx context.Context) error {
	return g.activity.run(ctx, g.cfg.FlushInterval, g.cache.sweep)
}

// Handler serves labs' routes and passes every other request to next
// (labd's API): requests for a lab's host name, and paths under
// PathPrefix.
func (g *Gateway) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t, ok := g.route(r); ok {
			g.serve(w, r, t)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ServeHTTP serves labs' routes alone (a separate gateway listener):
// anything else is a 404 page.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if t, ok := g.route(r); ok {
		g.serve(w, r, t)
		return
	}
	writePage(w, r, http.StatusNotFound, pageNotFound, nil)
}

// target is the lab a request is for and how it was addressed.
type target struct {
	key api.Key
	// prefix is the lab's path prefix ("/labs/ns/name"), "" when it is
	// addressed by host name; rest is the path below it ("/" at least).
	prefix, rest string
	// bad: the request is under PathPrefix but names no lab.
	bad bool
}

// route finds the lab a request is for: by host name first, then by path.
func (g *Gateway) route(r *http.Request) (target, bool) {
	if g.cfg.Domain != "" {
		if key, ok := g.hostKey(r.Host); ok {
			return target{key: key, rest: cmp.Or(r.URL.Path, "/")}, true
		}
	}
	p := r.URL.Path
	if p == strings.TrimSuffix(PathPrefix, "/") {
		return target{bad: true}, true
	}
	rest, ok := strings.CutPrefix(p, PathPrefix)
	if !ok {
		return target{}, false
	}
	ns, rest, _ := strings.Cut(rest, "/")
	name, rest, slash := strings.Cut(rest, "/")
	key := api.Key{Namespace: ns, Name: name}
	if api.ValidateName(ns) != nil || api.ValidateName(name) != nil {
		return target{bad: true}, true
	}
	t := target{key: key, prefix: labPath(key), rest: "/" + rest}
	if !slash {
		t.rest = "" // /labs/ns/name: redirected to /labs/ns/name/
	}
	return t, true
}

// hostKey reads the lab of a {name}--{namespace}.{Domain} host name. A
// name may hold "--" itself; the namespace is after the last one.
func (g *Gateway) hostKey(host string) (api.Key, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	label, ok := strings.CutSuffix(strings.ToLower(host), "."+g.cfg.Domain)
	if !ok || strings.Contains(label, ".") {
		return api.Key{}, false
	}
	i := strings.LastIndex(label, "--")
	if i <= 0 {
		return api.Key{}, false
	}
	key := api.Key{Name: label[:i], Namespace: label[i+2:]}
	if api.ValidateName(key.Name) != nil || api.ValidateName(key.Namespace) != nil {
		return api.Key{}, false
	}
	return key, true
}
