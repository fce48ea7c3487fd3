package eventsink

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/labrm/terraform-provider-lab/internal/wait"
	"github.com/labrm/terraform-provider-lab/server/outbox"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// Dispatcher delivers outbox events as CloudEvents to HTTP sinks, each sink
// from its own bookmark. Only the leader should run it; two running at once
// deliver some events twice and lose none.
type Dispatcher struct {
	db     *store.DB
	cfg    Config
	client *http.Client
	sinks  []*sink
	// id labels the events of the current Run; set before its sinks start.
	id atomic.Pointer[identity]
}

// sink is one destination and what the dispatcher knows of it.
type sink struct {
	sinkURL
	bookmark string
	follow   *outbox.Follower // delivers from the sink's bookmark

	mu sync.Mutex
	st SinkStatus
}

// New validates cfg and returns a dispatcher; it touches neither the
// database nor the sinks until Run. With no sinks, Run only waits.
func New(db *store.DB, cfg Config) (*Dispatcher, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	urls, err := parseSinks(cfg.Sinks)
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	client := *cfg.Client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	d := &Dispatcher{db: db, cfg: cfg, client: &client}
	for _, u := range urls {
		s := &sink{sinkURL: u, bookmark: bookmarkName(u, len(urls))}
		s.st = SinkStatus{Sink: u.display, Bookmark: s.bookmark}
		d.sinks = append(d.sinks, s)
	}
	var group outbox.Group
	if d.multi() {
		group = outbox.Group{Name: BookmarkName, Members: d.Bookmarks()[1:]}
	}
	for _, s := range d.sinks {
		s.follow = d.follower(s, group)
	}
	return d, nil
}

// follower delivers to s from its bookmark, a member of group when there
// are several sinks.
func (d *Dispatcher) follower(s *sink, group outbox.Group) *outbox.Follower {
	cfg := d.cfg
	return outbox.NewDeliverer(d.db, outbox.Config{
		Name: s.bookmark, Group: group,
		Start:     outbox.StartAtEnd, // see doc.go
		BatchSize: cfg.BatchSize, PollInterval: cfg.PollInterval,
		Backoff: wait.Backoff{Min: cfg.BackoffMin, Max: cfg.BackoffMax},
		Logger:  cfg.Logger.With("sink", s.display),
		OnExpired: func(_ context.Context, e *outbox.ExpiredError) error {
			// The events in between are gone and no retry can deliver
			// them: say so, and go on from the floor (see doc.go).
			cfg.Logger.Error("cloudevents: bookmark is below the outbox floor; events in between were pruned and are not delivered",
				"sink", s.display, "bookmark", s.bookmark, "position", e.Position, "floor", e.Floor)
			return nil
		},
		OnAdvance: func(pos int64) { cfg.Metrics.Advanced(s.display, pos) },
	}, func(ctx context.Context, ev store.Event, checkpoint func()) error {
		return d.deliver(ctx, s, *d.id.Load(), ev, checkpoint)
	})
}

// Status reports every sink, in configuration order.
func (d *Dispatcher) Status() []SinkStatus {
	out := make([]SinkStatus, 0, len(d.sinks))
	for _, s := range d.sinks {
		s.mu.Lock()
		st := s.st
		s.mu.Unlock()
		st.Position = s.follow.Position()
		out = append(out, st)
	}
	return out
}

// Bookmarks names the outbox bookmarks this dispatcher moves, the
// aggregate BookmarkName first when there are several sinks.
func (d *Dispatcher) Bookmarks() []string {
	var out []string
	if d.multi() {
		out = append(out, BookmarkName)
	}
	for _, s := range d.sinks {
		out = append(out, s.bookmark)
	}
	return out
}

func (d *Dispatcher) multi() bool { return len(d.sinks) > 1 }

// identity is what every event of one Run is labelled with.
type identity struct {
	installation string // store.DB.InstallationID: prefix of every event id
	source       string
}

// Run delivers until ctx ends, then returns nil: failures of sinks and of
// the database are logged, reported to Metrics and retried, never returned.
// It may be called again after it returned (a new leadership term).
func (d *Dispatcher) Run(ctx context.Context) error {
	if err := d.dropStaleBookmarks(ctx); err != nil && ctx.Err() == nil {
		d.cfg.Logger.Warn("drop bookmarks of removed sinks", "err", err)
	}
	if len(d.sinks) == 0 {
		<-ctx.Done()
		return nil
	}
	id, ok := d.identity(ctx)
	if !ok {
		return nil
	}
	d.id.Store(&id)
	d.cfg.Logger.Info("delivering cloudevents", "sinks", len(d.sinks), "source", id.source, "bookmarks", d.Bookmarks())
	var wg sync.WaitGroup
	for _, s := range d.sinks {
		wg.Go(func() { s.follow.Run(ctx) })
	}
	wg.Wait()
	return nil
}

// dropStaleBookmarks deletes the bookmarks of sinks no longer configured:
// they would hold back outbox pruning for ever. Only the leader runs a
// dispatcher, so the configuration it has is the one that counts.
func (d *Dispatcher) dropStaleBookmarks(ctx context.Context) error {
	keep := map[string]bool{}
	for _, b := range d.Bookmarks() {
		keep[b] = true
	}
	return d.db.InTx(ctx, func(tx *store.Tx) error {
		bms, err := tx.Bookmarks(ctx)
		if err != nil {
			return err
		}
		for _, b := range bms {
			ours := b.Name == BookmarkName || strings.HasPrefix(b.Name, BookmarkName+":")
			if ours && !keep[b.Name] {
				d.cfg.Logger.Info("dropping the bookmark of a removed sink", "bookmark", b.Name)
				if err := tx.DeleteBookmark(ctx, b.Name); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// identity reads the installation id, retrying until ctx ends.
func (d *Dispatcher) identity(ctx context.Context) (identity, bool) {
	b := wait.Backoff{Min: d.cfg.BackoffMin, Max: d.cfg.BackoffMax}
	for {
		inst, err := d.db.InstallationID(ctx)
		if err == nil && inst == "" {
			err = fmt.Errorf("read installation id: empty")
		}
		if err == nil {
			return identity{installation: inst, source: cmp.Or(d.cfg.Source, "/labd/"+inst)}, true
		}
		if ctx.Err() != nil {
			return identity{}, false
		}
		delay := b.Next()
		d.cfg.Logger.Warn("cloudevents: cannot read installation id", "err", err, "retry_in", delay)
		if wait.Sleep(ctx, delay) != nil {
			return identity{}, false
		}
	}
}
