package eventsink

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/wait"
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
}

// sink is one destination and what the dispatcher knows of it.
type sink struct {
	sinkURL
	bookmark string

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
	return d, nil
}

// Status reports every sink, in configuration order.
func (d *Dispatcher) Status() []SinkStatus {
	out := make([]SinkStatus, 0, len(d.sinks))
	for _, s := range d.sinks {
		s.mu.Lock()
		out = append(out, s.st)
		s.mu.Unlock()
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
	d.cfg.Logger.Info("delivering cloudevents", "sinks", len(d.sinks), "source", id.source, "bookmarks", d.Bookmarks())
	var wg sync.WaitGroup
	for _, s := range d.sinks {
		wg.Go(func() { d.runSink(ctx, s, id) })
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

// minSettle is the first delay when events are written but not yet readable.
const minSettle = 5 * time.Millisecond

// runSink feeds one sink until ctx ends.
func (d *Dispatcher) runSink(ctx context.Context, s *sink, id identity) {
	wake, stop := d.db.Subscribe()
	defer stop()
	dbBackoff := wait.Backoff{Min: d.cfg.BackoffMin, Max: d.cfg.BackoffMax}
	settle := minSettle
	for {
		n, err := d.step(ctx, s, id)
		if ctx.Err() != nil {
			return
		}
		delay := d.cfg.PollInterval
		switch {
		case err != nil:
			delay = dbBackoff.Next()
			d.cfg.Logger.Warn("cloudevents: outbox read failed", "sink", s.display, "err", err, "retry_in", delay)
		case n > 0:
			dbBackoff.Reset()
			settle = minSettle
			continue // more may be waiting
		case n < 0:
			// Newer events exist that a still open transaction keeps
			// unreadable: look again soon rather than at the next poll.
			delay, settle = min(settle, delay), min(settle*2, d.cfg.PollInterval)
		default:
			dbBackoff.Reset()
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-time.After(delay):
		}
	}
}

// step delivers at most one batch to s and returns how many events it
// delivered; -1 means none were readable although newer events exist. No
// transaction is open while HTTP requests run.
func (d *Dispatcher) step(ctx context.Context, s *sink, id identity) (int, error) {
	pos, current, err := d.position(ctx, s)
	if err != nil {
		return 0, err
	}
	events, err := d.db.ReadEvents(ctx, pos, d.cfg.BatchSize)
	if err != nil {
		return 0, err
	}
	if len(events) == 0 {
		if current > pos {
			return -1, nil
		}
		return 0, nil
	}
	// done is the highest position whose events have all been delivered;
	// saved is what the bookmark holds. Progress is saved before every
	// backoff delay, so a long outage of the sink does not leave delivered
	// events to be delivered again by the next leader.
	done, saved := pos, pos
	save := func(ctx context.Context) {
		if done <= saved {
			return
		}
		if err := d.advance(ctx, s, done); err != nil {
			d.cfg.Logger.Warn("cloudevents: saving bookmark failed; delivered events may be delivered again", "sink", s.display, "bookmark", s.bookmark, "err", err)
			return
		}
		saved = done
	}
	for i, ev := range events {
		err := d.deliver(ctx, s, id, ev, func() { save(ctx) })
		if err != nil {
			// ctx ended: keep what was delivered, briefly past the end of ctx.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			save(sctx)
			cancel()
			return i, nil
		}
		if i == len(events)-1 || events[i+1].Position != ev.Position {
			done = ev.Position
		}
	}
	save(ctx)
	return len(events), nil
}

// position returns s's bookmark, creating it if needed (see doc.go for
// where a new bookmark starts), and the newest outbox position. It holds
// the bookmark's row lock only for this short transaction.
func (d *Dispatcher) position(ctx context.Context, s *sink) (pos, current int64, err error) {
	var floor int64
	err = d.db.InTx(ctx, func(tx *store.Tx) error {
		floor, current, err = tx.EventBounds(ctx)
		if err != nil {
			return err
		}
		initial := max(current, floor)
		if d.multi() {
			// Always lock the aggregate first (see advance).
			if initial, err = tx.LockBookmark(ctx, BookmarkName, initial); err != nil {
				return err
			}
		}
		if pos, err = tx.LockBookmark(ctx, s.bookmark, initial); err != nil {
			return err
		}
		if pos < floor {
			// The pruner keeps every event a bookmark has not passed, so
			// this takes a bookmark moved or restored by hand: the events
			// in between are gone and cannot be delivered.
			d.cfg.Logger.Error("cloudevents: bookmark is below the outbox floor; events in between were pruned and are not delivered",
				"sink", s.display, "bookmark", s.bookmark, "position", pos, "floor", floor)
			pos = floor
			return tx.SetBookmark(ctx, s.bookmark, floor)
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("read bookmark %s: %w", s.bookmark, err)
	}
	s.setPosition(pos)
	return pos, current, nil
}

// advance moves s's bookmark forward to pos, never back (another
// dispatcher may have gone further), and with several sinks raises the
// aggregate bookmark to the lowest of theirs. Every transaction that locks
// more than one of these rows locks the aggregate first, so they cannot
// deadlock.
func (d *Dispatcher) advance(ctx context.Context, s *sink, pos int64) error {
	err := d.db.InTx(ctx, func(tx *store.Tx) error {
		var agg int64
		var err error
		if d.multi() {
			if agg, err = tx.LockBookmark(ctx, BookmarkName, pos); err != nil {
				return err
			}
		}
		cur, err := tx.LockBookmark(ctx, s.bookmark, pos)
		if err != nil {
			return err
		}
		if pos > cur {
			if err := tx.SetBookmark(ctx, s.bookmark, pos); err != nil {
				return err
			}
		}
		if !d.multi() {
			return nil
		}
		low := max(pos, cur)
		for _, o := range d.sinks {
			if o == s {
				continue
			}
			p, err := tx.LockBookmark(ctx, o.bookmark, agg)
			if err != nil {
				return err
			}
			low = min(low, p)
		}
		if low > agg {
			return tx.SetBookmark(ctx, BookmarkName, low)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("advance bookmark %s: %w", s.bookmark, err)
	}
	s.setPosition(pos)
	d.cfg.Metrics.Advanced(s.display, pos)
	return nil
}

func (s *sink) setPosition(pos int64) {
	s.mu.Lock()
	s.st.Position = max(s.st.Position, pos)
	s.mu.Unlock()
}
