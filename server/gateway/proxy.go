package gateway

import (
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// routeKey carries a proxied request's route in its context, from serve to
// the proxy's hooks.
type routeKey struct{}

// route is where one request goes.
type route struct {
	target
	lab      *api.LabInstanceRequest
	endpoint string // host:port of the app
	token    string // the lab's access token, as presented
	touch    func() // marks the lab used, throttled, on traffic
}

func routeOf(r *http.Request) *route { return r.Context().Value(routeKey{}).(*route) }

// newProxy is the reverse proxy to labs' apps. The standard library's
// ReverseProxy does the hard parts: hop-by-hop headers, X-Forwarded-*
// (Rewrite mode drops what clients sent), streaming in both directions
// (responses of unknown length and server-sent events are flushed as they
// come), and protocol upgrades (WebSocket), which it hijacks and copies.
func (g *Gateway) newProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite:        g.rewrite,
		Transport:      g.cfg.Transport,
		ModifyResponse: g.modifyResponse,
		ErrorHandler:   g.proxyError,
		ErrorLog:       log.New(slogWriter{g.log}, "", 0),
	}
}

// rewrite makes the request to the app: to its endpoint, without the
// lab's path prefix (given in X-Forwarded-Prefix instead), without the
// access token and the gateway's cookie, without labd's API tokens. The
// Host header stays the student's, as apps that check Origin against Host
// (Jupyter's WebSocket) need.
func (g *Gateway) rewrite(pr *httputil.ProxyRequest) {
	rt := routeOf(pr.In)
	pr.SetURL(&url.URL{Scheme: "http", Host: rt.endpoint})
	pr.Out.URL.Path, pr.Out.URL.RawPath = rt.rest, ""
	if raw := pr.In.URL.RawPath; raw != "" {
		// Escapes the client chose (%2F) are kept; the prefix has none.
		if rest, ok := strings.CutPrefix(raw, rt.prefix); ok {
			pr.Out.URL.RawPath = rest
		}
	}
	if pr.Out.URL.RawQuery != "" && pr.Out.URL.Query().Has(TokenParam) {
		pr.Out.URL.RawQuery = withoutToken(pr.Out.URL).RawQuery
	}
	pr.Out.Host = pr.In.Host
	pr.SetXForwarded()
	if g.cfg.Scheme == "https" {
		// TLS ended before labd (a load balancer): the student's scheme
		// is the access URL's.
		pr.Out.Header.Set("X-Forwarded-Proto", "https")
	}
	if rt.prefix != "" {
		pr.Out.Header.Set("X-Forwarded-Prefix", rt.prefix)
	}
	stripCookie(pr.Out.Header)
	if a := pr.Out.Header.Get("Authorization"); a != "" {
		if scheme, tok, ok := strings.Cut(strings.TrimSpace(a), " "); ok && strings.EqualFold(scheme, "Bearer") {
			tok = strings.TrimSpace(tok)
			if tok == rt.token || (g.cfg.IsAPIToken != nil && g.cfg.IsAPIToken(tok)) {
				pr.Out.Header.Del("Authorization")
			}
		}
	}
}

// stripCookie removes the gateway's cookie from a Cookie header, keeping
// the app's own cookies.
func stripCookie(h http.Header) {
	values := h.Values("Cookie")
	if len(values) == 0 {
		return
	}
	var keep []string
	for _, v := range values {
		for _, part := range strings.Split(v, ";") {
			name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			if strings.TrimSpace(part) != "" && name != CookieName {
				keep = append(keep, strings.TrimSpace(part))
			}
		}
	}
	h.Del("Cookie")
	if len(keep) > 0 {
		h.Set("Cookie", strings.Join(keep, "; "))
	}
}

// modifyResponse keeps a lab's redirects and cookies under its path
// prefix, and counts traffic on the response body (and, after an
// upgrade, on the connection) as use.
func (g *Gateway) modifyResponse(res *http.Response) error {
	rt := routeOf(res.Request)
	if rt.prefix != "" {
		if loc := res.Header.Get("Location"); strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") &&
			loc != rt.prefix && !strings.HasPrefix(loc, rt.prefix+"/") {
			res.Header.Set("Location", rt.prefix+loc)
		}
		if cs := res.Header.Values("Set-Cookie"); len(cs) > 0 {
			res.Header.Del("Set-Cookie")
			for _, c := range cs {
				res.Header.Add("Set-Cookie", cookieUnder(c, rt.prefix))
			}
		}
	}
	if rwc, ok := res.Body.(io.ReadWriteCloser); ok && res.StatusCode == http.StatusSwitchingProtocols {
		res.Body = &usedConn{ReadWriteCloser: rwc, touch: rt.touch}
	} else if res.Body != nil {
		res.Body = &usedBody{ReadCloser: res.Body, touch: rt.touch}
	}
	return nil
}

// cookieUnder moves a Set-Cookie's Path under prefix: with labs sharing
// one host name, an app's cookie for "/" would otherwise reach every lab.
// A cookie without Path defaults to the request's path, already under it.
func cookieUnder(setCookie, prefix string) string {
	parts := strings.Split(setCookie, ";")
	for i, p := range parts[1:] {
		name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
		if !strings.EqualFold(name, "path") {
			continue
		}
		value = strings.TrimSpace(value)
		if value != prefix && !strings.HasPrefix(value, prefix+"/") {
			if !strings.HasPrefix(value, "/") {
				value = "/" + value
			}
			value = prefix + value
		}
		parts[i+1] = " Path=" + value
	}
	return strings.Join(parts, ";")
}

// proxyError answers when the app cannot be reached or fails mid-way: a
// 502 page that refreshes, unless the student went away.
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	rt := routeOf(r)
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return
	}
	g.log.Info("gateway: the lab's app does not answer", "lab", rt.key.String(), "method", r.Method, "path", r.URL.Path, "err", err)
	writePage(w, r, http.StatusBadGateway, pageAppDown, view(rt.lab, rt.target))
}

// usedBody counts reads of a response body as use of the lab.
type usedBody struct {
	io.ReadCloser
	touch func()
}

func (b *usedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.touch()
	}
	return n, err
}

// usedConn counts traffic both ways on an upgraded connection as use.
type usedConn struct {
	io.ReadWriteCloser
	touch func()
}

func (c *usedConn) Read(p []byte) (int, error) {
	n, err := c.ReadWriteCloser.Read(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

func (c *usedConn) Write(p []byte) (int, error) {
	c.touch()
	return c.ReadWriteCloser.Write(p)
}

// slogWriter sends the ReverseProxy's own log lines (copy errors) to slog
// at debug level: a student closing a tab is not news.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Debug("gateway: " + strings.TrimSpace(string(p)))
	return len(p), nil
}
