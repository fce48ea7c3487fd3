// Package lograte keeps a failure that repeats from flooding the log: a
// slog.Handler that passes a warning or error carrying an "err" attribute
// once per cause per interval, and counts the rest.
//
// During an outage every retry of every lab fails the same way (about 80
// warnings a second from one controller when PostgreSQL restarts); one
// line per cause per interval says as much. The cause is the message, the
// handler's own attributes (its component) and the innermost error of
// the "err" attribute (following the first branch of a joined error): the
// store's "the database cannot be reached" or "connection refused" stays
// one cause whichever lab hit it. The first record of a cause in an
// interval is logged at once; the next one logged after the interval
// carries "suppressed": how many were dropped in between. Records below
// Warn, or without an "err" attribute, always pass.
//
// A rate limiter library (golang.org/x/time/rate) would give a token
// bucket per key but neither the key nor the count of what it dropped;
// this is the thirty lines that do.
package lograte

import (
	"cmp"
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// DefaultInterval is how often one cause may log.
const DefaultInterval = 10 * time.Second

// Config configures New.
type Config struct {
	Interval time.Duration    // default DefaultInterval
	Now      func() time.Time // default time.Now
}

type state struct {
	cfg  Config
	mu   sync.Mutex
	seen map[string]*cause
}

type cause struct {
	last       time.Time
	suppressed int
}

// Handler wraps another handler; see the package doc.
type Handler struct {
	next   slog.Handler
	st     *state
	prefix string // the handler's own attributes, part of every key
}

// New wraps next.
func New(next slog.Handler, cfg Config) *Handler {
	cfg.Interval = cmp.Or(cfg.Interval, DefaultInterval)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{next: next, st: &state{cfg: cfg, seen: map[string]*cause{}}}
}

// Enabled is the wrapped handler's.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle passes r on, unless it repeats a cause logged less than an
// interval ago.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return h.next.Handle(ctx, r)
	}
	var errText string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "err" && a.Key != "error" {
			return true
		}
		if err, ok := a.Value.Any().(error); ok {
			errText = innermost(err).Error()
		} else {
			errText = a.Value.String()
		}
		return false
	})
	if errText == "" {
		return h.next.Handle(ctx, r)
	}
	key := h.prefix + "\x00" + r.Level.String() + "\x00" + r.Message + "\x00" + errText
	st := h.st
	st.mu.Lock()
	c := st.seen[key]
	now := st.cfg.Now()
	if c != nil && now.Sub(c.last) < st.cfg.Interval {
		c.suppressed++
		st.mu.Unlock()
		return nil
	}
	suppressed := 0
	if c == nil {
		if len(st.seen) > 4096 {
			clear(st.seen) // bounded: causes are few, keys of old ones go
		}
		c = &cause{}
		st.seen[key] = c
	}
	suppressed, c.suppressed, c.last = c.suppressed, 0, now
	st.mu.Unlock()
	if suppressed > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("suppressed", suppressed), slog.Duration("suppressed_over", st.cfg.Interval))
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs keeps the limiter's state: one set of causes for every
// logger derived from the same New.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.prefix)
	for _, a := range as {
		b.WriteString(a.String())
		b.WriteByte(' ')
	}
	return &Handler{next: h.next.WithAttrs(as), st: h.st, prefix: b.String()}
}

// WithGroup keeps the limiter's state.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), st: h.st, prefix: h.prefix + name + "."}
}

// innermost follows err's chain (the first branch of a join) to its end.
func innermost(err error) error {
	for {
		var next error
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			next = u.Unwrap()
		case interface{ Unwrap() []error }:
			if es := u.Unwrap(); len(es) > 0 {
				next = es[0]
			}
		}
		if next == nil {
			return err
		}
		err = next
	}
}

var _ slog.Handler = (*Handler)(nil)
