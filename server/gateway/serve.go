package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// Names of what carries a lab's access token.
const (
	// CookieName is the gateway's cookie: the lab's token, scoped to the
	// lab's path (or host name).
	CookieName = "labd_access"
	// TokenParam is the query parameter of an access link.
	TokenParam = "token"
)

// cookieMaxAge keeps the cookie across browser restarts for longer than a
// lab can run (480 minutes).
const cookieMaxAge = 12 * time.Hour

// noLab is the digest compared against when there is no lab or token, so
// that a refusal takes the same work whether or not the lab exists.
var noLab = sha256.Sum256([]byte("no lab has this token"))

// serve answers one request for a lab: check its token, then show the
// lab's state or proxy to its app.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, t target) {
	start := time.Now()
	if t.bad {
		writePage(w, r, http.StatusNotFound, pageNotFound, nil)
		return
	}
	if t.rest == "" {
		// /labs/ns/name: the lab's pages live below /labs/ns/name/.
		u := *r.URL
		u.Path, u.RawPath = t.prefix+"/", ""
		http.Redirect(w, r, u.RequestURI(), http.StatusMovedPermanently)
		return
	}
	e, err := g.cache.get(r.Context(), t.key)
	if err != nil {
		g.log.Warn("gateway: read lab", "lab", t.key.String(), "err", err)
		writePage(w, r, http.StatusServiceUnavailable, pageStoreDown, nil)
		return
	}
	presented, fromQuery := presentedToken(r)
	if !e.admits(presented) {
		g.log.Debug("gateway: refused", "lab", t.key.String(), "method", r.Method, "path", r.URL.Path, "token_given", presented != "")
		writePage(w, r, http.StatusUnauthorized, pageUnauthorized, nil)
		return
	}
	if fromQuery {
		setCookie(w, r, t, presented, g.cfg.Scheme == "https")
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && !isUpgrade(r) {
			// The address bar (and Referer) lose the token.
			http.Redirect(w, r, withoutToken(r.URL).RequestURI(), http.StatusSeeOther)
			return
		}
	}
	lab := e.lab
	switch {
	case lab.Metadata.DeletionTimestamp != nil:
		writePage(w, r, http.StatusGone, pageEnded, view(lab, t))
	case lab.Status.Phase == api.PhasePending || lab.Status.Phase == api.PhaseProvisioning:
		w.Header().Set("Retry-After", "2")
		writePage(w, r, http.StatusServiceUnavailable, pageStarting, view(lab, t))
	case lab.Status.Phase == api.PhaseFailed:
		writePage(w, r, http.StatusGone, pageFailed, view(lab, t))
	case lab.Status.Phase != api.PhaseRunning:
		writePage(w, r, http.StatusGone, pageEnded, view(lab, t))
	case lab.Status.Endpoint == "":
		writePage(w, r, http.StatusNotFound, pageNoApp, view(lab, t))
	default:
		g.activity.touch(t.key, lab.Metadata.UID)
		// Both ways at once: the app may answer while the request body
		// still streams in, which Go's HTTP/1 server does not allow by
		// default. A writer that cannot (HTTP/2 always can) is fine.
		_ = http.NewResponseController(w).EnableFullDuplex()
		ctx := context.WithValue(r.Context(), routeKey{}, &route{target: t, lab: lab, endpoint: lab.Status.Endpoint,
			token: presented, touch: g.activity.toucher(t.key, lab.Metadata.UID)})
		g.proxy.ServeHTTP(w, r.WithContext(ctx))
	}
	if g.log.Enabled(r.Context(), slog.LevelDebug) {
		g.log.Debug("gateway request", "lab", t.key.String(), "method", r.Method, "path", r.URL.Path,
			"phase", lab.Status.Phase, "duration", time.Since(start))
	}
}

// admits reports, in time that does not depend on the token's contents or
// on whether the lab exists, whether presented is the lab's token.
func (e *entry) admits(presented string) bool {
	want, have := noLab, e.token
	if e.lab != nil && e.hasToken {
		want = have
	}
	got := sha256.Sum256([]byte(presented))
	ok := subtle.ConstantTimeCompare(got[:], want[:]) == 1
	return ok && presented != "" && e.lab != nil && e.hasToken
}

// presentedToken is the token of the access link (?token=) if there is
// one, else the lab's cookie.
func presentedToken(r *http.Request) (token string, fromQuery bool) {
	if r.URL.RawQuery != "" {
		if v, ok := r.URL.Query()[TokenParam]; ok {
			return v[0], true
		}
	}
	if c, err := r.Cookie(CookieName); err == nil {
		return c.Value, false
	}
	return "", false
}

// setCookie keeps the lab's token in a cookie of that lab only: its path
// (or, by host name, its host, with no Domain attribute).
func setCookie(w http.ResponseWriter, r *http.Request, t target, token string, httpsURL bool) {
	path := "/"
	if t.prefix != "" {
		path = t.prefix + "/"
	}
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: token, Path: path,
		MaxAge: int(cookieMaxAge / time.Second), HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: r.TLS != nil || httpsURL,
	})
}

// withoutToken is u without the token parameter.
func withoutToken(u *url.URL) *url.URL {
	c := *u
	q := c.Query()
	q.Del(TokenParam)
	c.RawQuery = q.Encode()
	return &c
}

// isUpgrade: a WebSocket (or other protocol) upgrade, which cannot follow
// a redirect.
func isUpgrade(r *http.Request) bool {
	for _, v := range r.Header.Values("Connection") {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), "upgrade") {
				return true
			}
		}
	}
	return false
}
