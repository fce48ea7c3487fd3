package eventsink

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// BookmarkName is the outbox bookmark of CloudEvents delivery. With one
// sink it is that sink's bookmark; with several it is the position every
// configured sink has reached, and each sink has its own bookmark named
// BookmarkName + ":" + host[:port]/path (see doc.go).
const BookmarkName = "cloudevents"

// Config configures a Dispatcher. Zero values take the defaults below.
type Config struct {
	// Sinks are the absolute http or https URLs events are POSTed to.
	// User info in a URL is sent as HTTP Basic credentials; neither it nor
	// the query string is ever logged or used in bookmark names.
	Sinks []string
	// Source is the CloudEvents source attribute. It must be the same on
	// every replica, because consumers drop duplicates by (source, id) and a
	// redelivery may come from another replica after a leader change.
	// Default: "/labd/<installation id>" (store.DB.InstallationID).
	Source string
	// Instance names this replica (LAB_INSTANCE_ID). When set it is sent as
	// the extension "labdinstance", which tells which replica delivered an
	// event; it is not part of the event's identity.
	Instance string
	// BatchSize is how many outbox transactions are read at once; default 100.
	BatchSize int
	// RequestTimeout bounds one HTTP attempt; default 10s.
	RequestTimeout time.Duration
	// BackoffMin and BackoffMax bound the wait between attempts to deliver
	// one event; it doubles from min to max, with jitter. Defaults 250ms, 1m.
	BackoffMin time.Duration
	BackoffMax time.Duration
	// PollInterval is how often the outbox is read when no wake-up came;
	// default 1s.
	PollInterval time.Duration
	// Client sends the requests (TLS settings, proxies). Default: a client
	// without overall timeout (RequestTimeout applies). Redirects are never
	// followed, whatever the client says: Go would turn a POST into a GET on
	// 301/302/303 and an event would count as delivered without its body.
	Client  *http.Client
	Logger  *slog.Logger
	Metrics Metrics
	Now     func() time.Time
}

func (c Config) withDefaults() Config {
	c.BatchSize = cmp.Or(c.BatchSize, 100)
	c.RequestTimeout = cmp.Or(c.RequestTimeout, 10*time.Second)
	c.BackoffMin = cmp.Or(c.BackoffMin, 250*time.Millisecond)
	c.BackoffMax = max(cmp.Or(c.BackoffMax, time.Minute), c.BackoffMin)
	c.PollInterval = cmp.Or(c.PollInterval, time.Second)
	c.Client = cmp.Or(c.Client, &http.Client{})
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
	c.Metrics = cmp.Or[Metrics](c.Metrics, nopMetrics{})
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// validate checks what New cannot default.
func (c Config) validate() error {
	switch {
	case c.BatchSize < 0:
		return fmt.Errorf("cloudevents batch size must not be negative, got %d", c.BatchSize)
	case c.RequestTimeout < 0 || c.BackoffMin < 0 || c.BackoffMax < 0 || c.PollInterval < 0:
		return fmt.Errorf("cloudevents durations must not be negative")
	}
	if c.Source != "" {
		if _, err := url.Parse(c.Source); err != nil {
			return fmt.Errorf("cloudevents source %q is not a URI-reference: %w", c.Source, err)
		}
	}
	return nil
}

// sinkURL is one validated sink.
type sinkURL struct {
	url *url.URL // as configured, credentials included: never log it
	// display is scheme://host/path: no user info, no query. It is the
	// sink's name in logs, metrics and Status.
	display string
	key     string // host[:port]/path, for the bookmark name
}

// parseSink validates raw, an entry of Config.Sinks (n counts from 1).
func parseSink(n int, raw string) (sinkURL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return sinkURL{}, fmt.Errorf("cloudevents sink %d is empty: want an absolute http or https URL", n)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the input, which may hold credentials.
		return sinkURL{}, fmt.Errorf("cloudevents sink %d is not a URL: want an absolute http or https URL like https://events.example.com/labd", n)
	}
	shown := redact(u)
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		if u.Scheme == "" {
			return sinkURL{}, fmt.Errorf("cloudevents sink %d %q is not absolute: want an http or https URL like https://events.example.com/labd", n, shown)
		}
		return sinkURL{}, fmt.Errorf("cloudevents sink %d %q has scheme %q: only http and https are supported", n, shown, u.Scheme)
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return sinkURL{}, fmt.Errorf("cloudevents sink %d %q has no host: want an http or https URL like https://events.example.com/labd", n, shown)
	case u.Fragment != "":
		return sinkURL{}, fmt.Errorf("cloudevents sink %d %q has a fragment (#...), which HTTP never sends: remove it", n, shown)
	}
	host := strings.ToLower(u.Host)
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return sinkURL{url: u, display: u.Scheme + "://" + host + path, key: host + path}, nil
}

// redact renders u without user info and query, which may carry secrets.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery, c.ForceQuery = "", false
	c.Fragment, c.RawFragment = "", ""
	return c.String()
}

// ParseSinks splits a comma-separated list (the LAB_CLOUDEVENTS_SINKS
// form), dropping blanks. URLs with commas must be given one per flag.
func ParseSinks(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ValidateSinks checks sink URLs as New does, for a command line that
// wants to fail before it connects to the database.
func ValidateSinks(sinks []string) error {
	_, err := parseSinks(sinks)
	return err
}

// parseSinks validates every sink and names its bookmark.
func parseSinks(raw []string) ([]sinkURL, error) {
	out := make([]sinkURL, 0, len(raw))
	seen := map[string]int{}
	for i, r := range raw {
		s, err := parseSink(i+1, r)
		if err != nil {
			return nil, err
		}
		if j, ok := seen[s.key]; ok {
			return nil, fmt.Errorf("cloudevents sinks %d and %d both post to %s (the bookmark is per host and path): list each sink once", j, i+1, s.key)
		}
		seen[s.key] = i + 1
		out = append(out, s)
	}
	return out, nil
}

// bookmarkName names sink s's bookmark when n sinks are configured.
func bookmarkName(s sinkURL, n int) string {
	if n == 1 {
		return BookmarkName
	}
	return BookmarkName + ":" + s.key
}
