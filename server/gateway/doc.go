// Package gateway is how students reach their labs: a reverse proxy
// (net/http/httputil.ReverseProxy) in front of each lab's app, served by
// every labd replica, leader or not.
//
// # Routes
//
// A lab is served under /labs/{namespace}/{name}/ on labd's listener (and
// on a separate gateway listener, if configured), the prefix stripped
// before the request reaches the app, which reads it from
// X-Forwarded-Prefix; redirects and cookie paths the app sets are moved
// under the prefix. With Config.Domain, a lab is also served by host name,
// {name}--{namespace}.{Domain}, at its root: apps that cannot live under a
// path prefix, and labs isolated from each other as browser origins.
//
// # Access
//
// Each lab has a random access token (made with it, stored apart from it:
// server/store's lab_access). A student opens the lab's URL once with
// ?token=<token>; the gateway checks it in constant time, sets an
// HttpOnly, SameSite=Lax cookie scoped to that lab (Secure over TLS) and
// redirects to the URL without the token, so it does not linger in the
// address bar or in Referer headers. A missing or wrong token, another
// lab's, or a lab that does not exist all get the same 401 page. The
// token and labd's API tokens never reach the lab: the gateway's cookie,
// the token parameter and an Authorization header holding a labd API token
// are removed from what is forwarded. Logs never hold a query string.
//
// # State model
//
// What the gateway shows follows the lab's phase: PENDING and PROVISIONING
// get a page with the phase and the current condition's message that
// refreshes itself until the lab runs, and then the app; RUNNING is
// proxied, both ways streamed (bodies, server-sent events, WebSocket and
// other upgrades), with X-Forwarded-For, -Host, -Proto and -Prefix set;
// an app that does not answer gets a 502 page that refreshes; FAILED shows
// error_message; COMPLETED, TIMEOUT and deleted labs say the lab has
// ended. A running lab without an app port (a batch lab) says it has no
// web app.
//
// # Caching and failure handling
//
// A lab and its token are read from the store at most once per CacheTTL
// per replica (concurrent misses share one read), found or not: a phase
// change or a rotated token shows within that time on other replicas, at
// once on the replica that rotated it (Forget). A store that cannot be
// read gets a 503 page; nothing is cached then.
//
// # Activity
//
// Every proxied request, and traffic on a long-lived one (a WebSocket, a
// stream) at most once a second, marks its lab as used. Run writes what
// was seen to status.last_activity every FlushInterval in one batch
// (store.RecordActivity), never once per request, and once more when it
// stops; a batch that fails is kept and retried with the next. The
// controller ends labs idle longer than their idle_timeout_minutes.
package gateway
