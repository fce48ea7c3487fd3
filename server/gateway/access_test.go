package gateway_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/gateway"
)

func asJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAccess: without a token, with a wrong one, with another lab's, and
// for a lab that does not exist, the gateway answers one identical 401;
// the right token sets the lab's cookie and redirects to the URL without
// it, and then the cookie alone lets the student in. What reaches the app
// holds neither the token nor labd's API token, and the token never shows
// in a log line, the outbox, a list or a history.
func TestAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	a := e.running("alice", nil)
	b := e.running("bob", nil)
	tokA, tokB := e.token(a.Key()), e.token(b.Key())
	missing := api.Key{Namespace: "default", Name: "nobody"}

	type refusal struct {
		name    string
		url     string
		headers []string
	}
	refusals := []refusal{
		{"no token", e.url(a.Key(), "/"), nil},
		{"wrong token", e.url(a.Key(), "/?token=not-the-token"), nil},
		{"wrong cookie", e.url(a.Key(), "/"), []string{"Cookie", cookie("not-the-token")}},
		{"another lab's token", e.url(a.Key(), "/?token="+tokB), nil},
		{"another lab's cookie", e.url(a.Key(), "/headers"), []string{"Cookie", cookie(tokB)}},
		{"empty token", e.url(a.Key(), "/?token="), nil},
		{"no such lab, no token", e.url(missing, "/"), nil},
		{"no such lab, a token", e.url(missing, "/?token="+tokA), nil},
		{"labd's API token", e.url(a.Key(), "/"), []string{"Authorization", "Bearer " + apiToken}},
	}
	var first *http.Response
	var firstBody string
	for _, r := range refusals {
		resp, body := do(t, "GET", r.url, r.headers...)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: %d, want 401", r.name, resp.StatusCode)
		}
		if len(resp.Header.Values("Set-Cookie")) != 0 {
			t.Fatalf("%s: sets a cookie", r.name)
		}
		if first == nil {
			first, firstBody = resp, body
			if !strings.Contains(body, "Access link needed") {
				t.Fatalf("401 page: %s", body)
			}
			continue
		}
		if body != firstBody {
			t.Fatalf("%s: 401 body differs from %s's:\n%s\n---\n%s", r.name, refusals[0].name, body, firstBody)
		}
		for _, h := range []string{"Content-Type", "Content-Length", "Cache-Control", "Content-Security-Policy", "X-Content-Type-Options"} {
			if resp.Header.Get(h) != first.Header.Get(h) {
				t.Fatalf("%s: %s %q, want %q as for %s", r.name, h, resp.Header.Get(h), first.Header.Get(h), refusals[0].name)
			}
		}
	}

	// The access link: a cookie for that lab only, and a redirect that
	// drops the token and keeps the rest of the query.
	resp, _ := do(t, "GET", e.url(a.Key(), "/headers?x=1&token="+tokA))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/labs/default/alice/headers?x=1" {
		t.Fatalf("access link: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", resp.Header.Values("Set-Cookie"))
	}
	c := cookies[0]
	if c.Name != gateway.CookieName || c.Value != tokA || c.Path != "/labs/default/alice/" || !c.HttpOnly ||
		c.SameSite != http.SameSiteLaxMode || c.Secure || c.Domain != "" {
		t.Fatalf("cookie %s", resp.Header.Get("Set-Cookie"))
	}

	// The cookie alone: the app, and what it was sent.
	resp, body := do(t, "GET", e.url(a.Key(), "/"), "Cookie", cookie(tokA))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "labrm test app") {
		t.Fatalf("with the cookie: %d %s", resp.StatusCode, body)
	}
	// A POST with the access link is not redirected (its body would be
	// lost): it goes to the app with the token removed.
	seen := headersSeen(t, "POST", e.url(a.Key(), "/headers?q=%2Fx&token="+tokA),
		"Cookie", cookie(tokA)+"; theme=dark", "Authorization", "Bearer "+apiToken, "X-Forwarded-For", "6.6.6.6")
	if seen.Path != "/headers" || seen.Query != "q=%2Fx" {
		t.Fatalf("the app saw path %q, query %q: want the lab's prefix and the token gone", seen.Path, seen.Query)
	}
	if got := seen.Headers["Cookie"]; !slices.Equal(got, []string{"theme=dark"}) {
		t.Fatalf("the app got cookies %v, want only its own", got)
	}
	if got := seen.Headers["Authorization"]; got != nil {
		t.Fatalf("the app got Authorization %v", got)
	}
	u, _ := url.Parse(e.base)
	if seen.Host != u.Host || first1(seen.Headers["X-Forwarded-Host"]) != u.Host || first1(seen.Headers["X-Forwarded-Proto"]) != "http" ||
		first1(seen.Headers["X-Forwarded-Prefix"]) != "/labs/default/alice" || first1(seen.Headers["X-Forwarded-For"]) != "127.0.0.1" {
		t.Fatalf("the app saw host %q and headers %v", seen.Host, seen.Headers)
	}
	// An Authorization of the app's own passes.
	seen = headersSeen(t, "GET", e.url(a.Key(), "/headers"), "Cookie", cookie(tokA), "Authorization", "token app-secret")
	if got := seen.Headers["Authorization"]; !slices.Equal(got, []string{"token app-secret"}) {
		t.Fatalf("the app's own Authorization: %v", got)
	}
	// One lab's cookie does not open another.
	if resp, _ := do(t, "GET", e.url(b.Key(), "/"), "Cookie", cookie(tokA)); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("alice's cookie on bob's lab: %d", resp.StatusCode)
	}
	// /labs/default/alice without the slash: to the lab's root.
	if resp, _ := do(t, "GET", e.url(a.Key(), "?token="+tokA)); resp.StatusCode != http.StatusMovedPermanently ||
		resp.Header.Get("Location") != "/labs/default/alice/?token="+tokA {
		t.Fatalf("without the slash: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	e.noSecret(tokA, tokB)
}

// seen is what the test app's /headers reports.
type seen struct {
	Host    string              `json:"host"`
	Path    string              `json:"path"`
	Query   string              `json:"query"`
	Headers map[string][]string `json:"headers"`
}

func headersSeen(t *testing.T, method, url string, headers ...string) seen {
	t.Helper()
	resp, body := do(t, method, url, headers...)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	var s seen
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, body)
	}
	return s
}

func first1(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// TestRedirectsAndCookiesStayUnderThePrefix: an app's redirect to "/x" and
// its cookie for "/" are moved under the lab's path, so that one lab's
// cookies never reach another lab on the same host.
func TestRedirectsAndCookiesStayUnderThePrefix(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	a := e.running("redirects", nil)
	tok := e.token(a.Key())
	resp, _ := do(t, "GET", e.url(a.Key(), "/redirect"), "Cookie", cookie(tok))
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/labs/default/redirects/headers" {
		t.Fatalf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = do(t, "GET", e.url(a.Key(), "/cookie"), "Cookie", cookie(tok))
	if got := resp.Header.Get("Set-Cookie"); got != "app=1; Path=/labs/default/redirects/" {
		t.Fatalf("Set-Cookie %q", got)
	}
}
