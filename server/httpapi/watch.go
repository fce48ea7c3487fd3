package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/httpapi/codec"
	"github.com/labrm/terraform-provider-lab/server/outbox"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// watchBatch is how many outbox events a watch reads at a time.
const watchBatch = 500

var watchOffers = []codec.Offer{
	{MediaType: "application/x-ndjson", Format: codec.JSON},
	{MediaType: "application/json", Format: codec.JSON}, // answered as application/json;stream=watch
}

// bookmarkObject is the object of a BOOKMARK: only the position to resume
// from, without the empty spec and status a LabInstanceRequest would carry.
type bookmarkObject struct {
	APIVersion string `json:"api_version"`
	Kind       string `json:"kind"`
	Metadata   struct {
		ResourceVersion int64 `json:"resource_version"`
	} `json:"metadata"`
}

type bookmarkEvent struct {
	Type   string         `json:"type"`
	Object bookmarkObject `json:"object"`
}

// watch streams changes as newline-delimited JSON events, Kubernetes style:
//
//   - without resource_version: ADDED for every matching lab (from a list),
//     then every change after the list's resource_version;
//   - with resource_version=N: every change after N, or 410 Gone when the
//     outbox no longer reaches back to N, so the client relists.
//
// Filters apply to each event's object. A BOOKMARK carries the position to
// resume from; one follows the initial list and one is sent every
// BookmarkInterval. The stream ends on client disconnect, timeout_seconds
// (capped by WatchTimeout), Close, a store error, or when retention overtook
// it; the client then re-watches from its last position, and gets 410 if
// that is gone.
func (s *Server) watch(c *gin.Context) {
	if !s.negotiate(c, watchOffers) {
		return
	}
	if s.ctx.Err() != nil {
		s.writeError(c, errorf(api.EUNAVAILABLE, "the server is shutting down; watch another replica or retry"))
		return
	}
	f, err := parseFilter(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if name := c.Query("name"); name != "" {
		if err := api.ValidateName(name); err != nil {
			s.writeError(c, fieldError(api.EBADREQUEST, "name", err.Error()))
			return
		}
		f.name = name
	}
	from, fromGiven, err := s.versionParam(c.Request.Context(), c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	timeout := s.cfg.WatchTimeout
	if secs, ok, err := intParam(c, "timeout_seconds"); err != nil {
		s.writeError(c, err)
		return
	} else if ok && secs > 0 {
		timeout = min(time.Duration(min(secs, 1<<32))*time.Second, timeout)
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), timeout)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()

	if c.Request.Method == http.MethodHead {
		// The headers a watch would start with, and no stream.
		c.Header("Content-Type", watchContentType(c))
		c.Header("Cache-Control", "no-store")
		c.Status(http.StatusOK)
		return
	}

	w := &watchStream{c: c, s: s}
	var initial []api.LabInstanceRequest
	if fromGiven {
		if err := outbox.CheckPosition(ctx, s.store, from); err != nil {
			var exp *outbox.ExpiredError
			if errors.As(err, &exp) {
				err = errorf(api.EGONE,
					"resource_version %d is older than the oldest change still kept (%d): list again and watch from the list's metadata.resource_version",
					exp.Position, exp.Floor)
			}
			s.writeError(c, err)
			return
		}
		w.cursor = from
	} else {
		initial, w.cursor, err = s.listAll(ctx, f)
		if err != nil {
			s.writeError(c, err)
			return
		}
	}

	c.Header("Content-Type", watchContentType(c))
	c.Header("Cache-Control", "no-store")
	c.Header("X-Accel-Buffering", "no") // proxies must not buffer the stream
	c.Status(http.StatusOK)
	c.Writer.WriteHeaderNow()

	// Objects listed on later pages may be newer than the first page's
	// position; their older events are skipped rather than replayed.
	for i := range initial {
		l := &initial[i]
		w.sent(l.Key(), l.Metadata.ResourceVersion)
		w.event(api.WatchAdded, l)
	}
	w.flush()

	// Without a resource_version the client listed through us: a BOOKMARK
	// once the changes since the list are sent tells it that it is caught up.
	reason := w.follow(ctx, f, !fromGiven)
	s.logger(c).Debug("watch ended", "reason", reason, "events", w.count, "resource_version", w.cursor)
}

func watchContentType(c *gin.Context) string {
	if responseOffer(c).MediaType == "application/json" {
		return "application/json;stream=watch"
	}
	return "application/x-ndjson"
}

// listAll lists every matching lab, page by page, and returns the first
// page's position, from which the watch continues.
func (s *Server) listAll(ctx context.Context, f filter) ([]api.LabInstanceRequest, int64, error) {
	opts := f.listOptions()
	opts.Limit = store.MaxListLimit
	var (
		items []api.LabInstanceRequest
		rv    int64
	)
	for page := 0; ; page++ {
		list, err := s.store.ListLabs(ctx, opts)
		if err != nil {
			return nil, 0, err
		}
		if page == 0 {
			rv = list.Metadata.ResourceVersion
		}
		for _, l := range list.Items {
			if f.matches(&l) {
				items = append(items, l)
			}
		}
		if list.Metadata.Continue == "" {
			return items, rv, nil
		}
		opts.Continue = list.Metadata.Continue
	}
}

// watchStream writes one watch response.
type watchStream struct {
	c      *gin.Context
	s      *Server
	cursor int64 // position of the last event read
	count  int
	err    error // first write error: the client is gone

	seen    map[api.Key]int64 // version sent in the initial list, by key
	maxSeen int64
}

func (w *watchStream) sent(k api.Key, rv int64) {
	if w.seen == nil {
		w.seen = map[api.Key]int64{}
	}
	w.seen[k] = rv
	w.maxSeen = max(w.maxSeen, rv)
}

// already reports whether the client has the change at position pos of k
// from the initial list.
func (w *watchStream) already(k api.Key, pos int64) bool {
	if w.seen == nil {
		return false
	}
	if w.cursor >= w.maxSeen {
		defer func() { w.seen = nil }()
	}
	rv, ok := w.seen[k]
	return ok && pos <= rv
}

func (w *watchStream) write(v any) {
	if w.err != nil {
		return
	}
	b, err := codec.JSON.Encode(v)
	if err == nil {
		_, err = w.c.Writer.Write(b)
	}
	w.err = err
}

func (w *watchStream) event(typ string, l *api.LabInstanceRequest) {
	l.APIVersion, l.Kind = api.APIVersion, api.Kind
	w.write(api.WatchEvent{Type: typ, Object: l})
	w.count++
}

func (w *watchStream) bookmark(pos int64) {
	ev := bookmarkEvent{Type: api.WatchBookmark}
	ev.Object.APIVersion, ev.Object.Kind = api.APIVersion, api.Kind
	ev.Object.Metadata.ResourceVersion = pos
	w.write(ev)
}

func (w *watchStream) flush() {
	if w.err == nil {
		w.c.Writer.Flush()
	}
}

// errClientGone ends a stream whose client no longer reads it.
var errClientGone = errors.New("client gone")

// follow streams the outbox from the cursor until the stream has to end,
// and says why; with caughtUp, a BOOKMARK follows the events readable at
// the start. It keeps no bookmark: the client holds the position and
// re-watches from its last one. A position overtaken by retention ends the
// stream, so that the re-watch gets 410 Gone; so does a store error.
func (w *watchStream) follow(ctx context.Context, f filter, caughtUp bool) string {
	cfg := outbox.Config{
		BatchSize:    watchBatch,
		PollInterval: w.s.cfg.PollInterval,
		Heartbeat:    w.s.cfg.BookmarkInterval,
		OnHeartbeat: func(ctx context.Context, pos int64) error {
			w.bookmark(pos)
			w.flush()
			return w.gone()
		},
	}
	if w.s.cfg.Notify != nil {
		cfg.Notify, cfg.PollInterval = w.s.cfg.Notify, w.s.cfg.FallbackPollInterval
	}
	r := outbox.NewReader(w.s.store, w.cursor, cfg, func(ctx context.Context, events []store.Event) error {
		return w.send(f, events)
	})
	var err error
	if caughtUp {
		if err = r.CatchUp(ctx); err == nil {
			w.bookmark(r.Position())
			w.flush()
			err = w.gone()
		}
	}
	if err == nil {
		err = r.Run(ctx)
	}
	switch {
	case ctx.Err() != nil:
		return "done: " + context.Cause(ctx).Error()
	case err == nil:
		return "done"
	case errors.Is(err, outbox.ErrExpired):
		return "overtaken by retention"
	case errors.Is(err, errClientGone):
		return "client gone"
	default:
		w.s.logger(w.c).Error("watch: read outbox", "err", err)
		return "read outbox failed"
	}
}

// send writes the events of one batch that the client asked for.
func (w *watchStream) send(f filter, events []store.Event) error {
	for i := range events {
		ev := &events[i]
		w.cursor = max(w.cursor, ev.Position)
		typ := api.WatchType(ev.Type)
		if typ == "" || w.already(ev.Key, ev.Position) || !f.matches(ev.Object) {
			continue
		}
		w.event(typ, ev.Object)
	}
	w.flush()
	return w.gone()
}

// gone reports a failed write: the client is gone.
func (w *watchStream) gone() error {
	if w.err != nil {
		return fmt.Errorf("%w: %v", errClientGone, w.err)
	}
	return nil
}
