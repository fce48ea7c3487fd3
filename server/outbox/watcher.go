package outbox

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/labrm/terraform-provider-lab/server/store"
)

// Handler handles one batch of events inside the batch's transaction. An
// error rolls the batch back; it is retried after a backoff.
type Handler func(ctx context.Context, tx *store.Tx, events []store.Event) error

// Config configures a Watcher.
type Config struct {
	Name         string // bookmark name, e.g. "controller"
	BatchSize    int    // transactions per batch; default 100
	PollInterval time.Duration
	// Start is where a watcher seen for the first time begins: StartAtEnd
	// (only new events) or StartAtFloor (every event still kept).
	Start Start
	// OnExpired runs when the bookmark is below the outbox floor, before
	// the watcher continues from the floor.
	OnExpired func(ctx context.Context) error
	Logger    *slog.Logger
	// OnBatch, if set, observes every committed batch (metrics, tests).
	OnBatch func(events []store.Event)
}

// Start says where a new watcher begins.
type Start int

// Starting points for a watcher without a bookmark.
const (
	StartAtFloor Start = iota
	StartAtEnd
)

// Watcher feeds a Handler from the outbox.
type Watcher struct {
	db  *store.DB
	cfg Config
	h   Handler
}

// NewWatcher returns a watcher; it starts with Run.
func NewWatcher(db *store.DB, cfg Config, h Handler) *Watcher {
	cfg.BatchSize = cmp.Or(cfg.BatchSize, 100)
	cfg.PollInterval = cmp.Or(cfg.PollInterval, time.Second)
	cfg.Logger = cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	return &Watcher{db: db, cfg: cfg, h: h}
}

// Run handles batches until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	wake, stop := w.db.Subscribe()
	defer stop()
	backoff := 10 * time.Millisecond
	settle := minSettle
	for {
		n, err := w.Step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := w.cfg.PollInterval
		switch {
		case err != nil:
			w.cfg.Logger.Warn("outbox watcher batch failed", "watcher", w.cfg.Name, "err", err, "retry_in", backoff)
			wait, backoff = backoff, min(backoff*2, 10*time.Second)
		case n > 0:
			backoff, settle = 10*time.Millisecond, minSettle
			continue // more may be waiting
		case n < 0:
			// Events exist that an older, still open transaction keeps
			// unreadable for now: look again soon rather than at the
			// next poll.
			wait, settle = min(settle, wait), min(settle*2, w.cfg.PollInterval)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-time.After(wait):
		}
	}
}

// minSettle is the first wait when events are written but not yet readable.
const minSettle = 5 * time.Millisecond

// Step handles at most one batch and returns how many events it handled;
// -1 means none were readable although newer events exist (an older
// transaction is still open).
func (w *Watcher) Step(ctx context.Context) (int, error) {
	var handled []store.Event
	expired, behind := false, false
	err := w.db.InTx(ctx, func(tx *store.Tx) error {
		floor, current, err := tx.EventBounds(ctx)
		if err != nil {
			return err
		}
		initial := floor
		if w.cfg.Start == StartAtEnd {
			initial = max(current, floor)
		}
		pos, err := tx.LockBookmark(ctx, w.cfg.Name, initial)
		if err != nil {
			return err
		}
		if pos < floor {
			expired = true
			return nil
		}
		events, err := tx.ReadEvents(ctx, pos, w.cfg.BatchSize)
		if err != nil || len(events) == 0 {
			behind = current > pos
			return err
		}
		if err := w.h(ctx, tx, events); err != nil {
			return fmt.Errorf("handle events: %w", err)
		}
		handled = events
		return tx.SetBookmark(ctx, w.cfg.Name, events[len(events)-1].Position)
	})
	if err != nil {
		return 0, err
	}
	if expired {
		return -1, w.relist(ctx)
	}
	if behind {
		return -1, nil
	}
	if w.cfg.OnBatch != nil && len(handled) > 0 {
		w.cfg.OnBatch(handled)
	}
	return len(handled), nil
}

// relist runs OnExpired outside any transaction (it may read the store)
// and only then moves the bookmark up to the floor: a crash in between
// relists again, it never skips.
func (w *Watcher) relist(ctx context.Context) error {
	w.cfg.Logger.Warn("outbox watcher fell behind the retention floor; relisting", "watcher", w.cfg.Name)
	if w.cfg.OnExpired != nil {
		if err := w.cfg.OnExpired(ctx); err != nil {
			return fmt.Errorf("relist: %w", err)
		}
	}
	return w.db.InTx(ctx, func(tx *store.Tx) error {
		floor, _, err := tx.EventBounds(ctx)
		if err != nil {
			return err
		}
		pos, err := tx.LockBookmark(ctx, w.cfg.Name, floor)
		if err != nil || pos >= floor {
			return err
		}
		return tx.SetBookmark(ctx, w.cfg.Name, floor)
	})
}

// Pruner deletes old events that every watcher has passed.
type Pruner struct {
	DB        *store.DB
	Retention time.Duration // default 24h
	Interval  time.Duration // default 10m
	Logger    *slog.Logger
	Now       func() time.Time
}

// Run prunes every Interval until ctx ends.
func (p *Pruner) Run(ctx context.Context) error {
	retention := cmp.Or(p.Retention, 24*time.Hour)
	interval := cmp.Or(p.Interval, 10*time.Minute)
	log := cmp.Or(p.Logger, slog.New(slog.DiscardHandler))
	now := p.Now
	if now == nil {
		now = time.Now
	}
	for {
		n, err := p.DB.PruneEvents(ctx, now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("prune outbox", "err", err)
		case n > 0:
			log.Info("pruned outbox", "events", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}
