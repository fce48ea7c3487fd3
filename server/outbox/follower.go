package outbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/wait"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// Source is the read side of the outbox that a follower without a bookmark
// needs; *store.DB implements it.
type Source interface {
	ReadEvents(ctx context.Context, after int64, limit int) ([]store.Event, error)
	EventBounds(ctx context.Context) (floor, current int64, err error)
}

// Notifier wakes followers when new events may have become readable; a
// wake-up is a hint only. *store.DB implements it (LISTEN/NOTIFY on
// PostgreSQL, in-process on SQLite).
type Notifier interface {
	Subscribe() (<-chan struct{}, func())
}

// ErrExpired matches every *ExpiredError (errors.Is).
var ErrExpired = errors.New("outbox position is below the retention floor")

// ExpiredError says that a follower's position is below the outbox floor:
// events after Position may have been pruned, so the follower cannot tell
// what it missed. It matches ErrExpired.
type ExpiredError struct {
	Position int64 // where the follower was
	Floor    int64 // the lowest position from which every later event is still kept
}

func (e *ExpiredError) Error() string {
	return fmt.Sprintf("outbox position %d is below the retention floor %d: events in between may have been pruned", e.Position, e.Floor)
}

// Is makes errors.Is(err, ErrExpired) true.
func (e *ExpiredError) Is(target error) bool { return target == ErrExpired }

// CheckPosition returns an *ExpiredError when a reader at pos can no longer
// see every later event, for a caller that must answer before it follows
// (a watch request answered 410 Gone).
func CheckPosition(ctx context.Context, src Source, pos int64) error {
	floor, _, err := src.EventBounds(ctx)
	if err != nil {
		return err
	}
	if pos < floor {
		return &ExpiredError{Position: pos, Floor: floor}
	}
	return nil
}

// Start says where a follower with a new bookmark begins.
type Start int

// Starting points for a bookmark seen for the first time.
const (
	StartAtFloor Start = iota // every event still kept
	StartAtEnd                // only events written from now on
)

// Config configures a Follower. Zero values take the defaults noted.
type Config struct {
	// Name is the bookmark (a row of watcher_bookmarks, e.g.
	// api.ControllerWatcher) of NewWatcher and NewDeliverer.
	Name string
	// Group, for a bookmark that belongs to a group, keeps the group's
	// bookmark at the lowest position of its members (see Group).
	Group Group
	// Start is where a bookmark seen for the first time begins.
	Start     Start
	BatchSize int // transactions per batch; default 100
	// PollInterval is how often the outbox is read when no wake-up came;
	// default 1s.
	PollInterval time.Duration
	// Backoff paces the retries after an error; the zero value waits
	// 10ms doubling to 10s.
	Backoff wait.Backoff
	// Notify wakes the follower. NewWatcher and NewDeliverer default to
	// their store's; without one a NewReader only polls.
	Notify Notifier
	// OnExpired decides what happens below the retention floor. It runs
	// outside any transaction; once it returns nil the follower continues
	// from the floor, and if it fails it runs again on the next attempt.
	// Without it Run stops and returns the *ExpiredError.
	OnExpired func(ctx context.Context, err *ExpiredError) error
	// OnBatch, if set, observes every batch handled (metrics, tests).
	OnBatch func(events []store.Event)
	// OnAdvance, if set, observes every position saved (or, without a
	// bookmark, reached).
	OnAdvance func(position int64)
	// OnHeartbeat, if set, runs every Heartbeat while the follower waits,
	// with its position (a watch stream's periodic BOOKMARK); it does not
	// read the outbox. An error stops Run and is returned.
	Heartbeat   time.Duration
	OnHeartbeat func(ctx context.Context, position int64) error
	Logger      *slog.Logger
}

// Follower follows the outbox from a position: it reads batches of whole
// transactions in order, hands them to its handler, and waits for more. How
// its position is kept is chosen by the constructor: NewWatcher (bookmark
// advanced in the handler's transaction), NewDeliverer (bookmark advanced
// after delivery) or NewReader (no bookmark). See the package doc.
type Follower struct {
	cfg  Config
	held bool // no bookmark: the caller holds the position
	step func(ctx context.Context) (int, error)
	pos  atomic.Int64 // last position read or saved; only grows
}

func newFollower(cfg Config, held bool) *Follower {
	if !held && cfg.Name == "" {
		panic("outbox: a follower with a bookmark needs Config.Name")
	}
	cfg.BatchSize = cmp.Or(cfg.BatchSize, 100)
	cfg.PollInterval = cmp.Or(cfg.PollInterval, time.Second)
	cfg.Logger = cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	return &Follower{cfg: cfg, held: held}
}

// Position is the last position this follower read or saved: its bookmark
// as it last saw it, or, without a bookmark, the end of the last batch
// handled. It is where a follower without a bookmark continues.
func (f *Follower) Position() int64 { return f.pos.Load() }

func (f *Follower) setPosition(p int64) {
	for {
		cur := f.pos.Load()
		if p <= cur || f.pos.CompareAndSwap(cur, p) {
			return
		}
	}
}

// minSettle is the first wait when newer events exist that an older, still
// open transaction keeps unreadable.
const minSettle = 5 * time.Millisecond

// Run follows until ctx ends, then returns nil. With a bookmark, errors are
// logged and retried after a backoff; without one (NewReader) the first
// error ends Run and is returned, since the caller holds the position. An
// expired position without OnExpired ends Run with an *ExpiredError.
func (f *Follower) Run(ctx context.Context) error {
	var wake <-chan struct{}
	if f.cfg.Notify != nil {
		ch, stop := f.cfg.Notify.Subscribe()
		defer stop()
		wake = ch
	}
	var heartbeat <-chan time.Time
	if f.cfg.Heartbeat > 0 && f.cfg.OnHeartbeat != nil {
		t := time.NewTicker(f.cfg.Heartbeat)
		defer t.Stop()
		heartbeat = t.C
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	backoff := f.cfg.Backoff
	settle := minSettle
	for {
		n, err := f.step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		delay := f.cfg.PollInterval
		switch {
		case err != nil:
			if f.held || errors.Is(err, ErrExpired) {
				return err
			}
			delay = backoff.Next()
			f.cfg.Logger.Warn("outbox follower failed; retrying", "follower", f.cfg.Name, "err", err, "retry_in", delay)
		case n > 0:
			backoff.Reset()
			settle = minSettle
			continue // more may be waiting
		case n < 0:
			// Events exist that an older, still open transaction keeps
			// unreadable for now: look again soon rather than at the
			// next poll.
			backoff.Reset()
			delay, settle = min(settle, delay), min(settle*2, f.cfg.PollInterval)
		default:
			backoff.Reset()
			settle = minSettle
		}
		timer.Reset(delay)
	waiting:
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-wake:
				break waiting
			case <-timer.C:
				break waiting
			case <-heartbeat:
				if err := f.cfg.OnHeartbeat(ctx, f.Position()); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
			}
		}
		timer.Stop()
	}
}

// Step handles at most one batch and returns how many events it handled;
// -1 means it should be called again soon: newer events exist that are not
// readable yet (an older transaction is still open), or the position was
// just moved up to the floor.
func (f *Follower) Step(ctx context.Context) (int, error) { return f.step(ctx) }

// CatchUp handles batches until none is readable, and returns the first
// error: a watch stream sends its "caught up" BOOKMARK after it.
func (f *Follower) CatchUp(ctx context.Context) error {
	for {
		n, err := f.step(ctx)
		if err != nil || n <= 0 {
			return err
		}
	}
}

// expired runs when the position is below the floor: without OnExpired it
// returns e; otherwise OnExpired runs and then move places the follower at
// the floor. A crash in between runs OnExpired again; it never skips it.
func (f *Follower) expired(ctx context.Context, e *ExpiredError, move func(ctx context.Context, floor int64) error) (int, error) {
	if f.cfg.OnExpired == nil {
		return 0, e
	}
	f.cfg.Logger.Warn("outbox follower is below the retention floor; continuing from the floor",
		"follower", f.cfg.Name, "position", e.Position, "floor", e.Floor)
	if err := f.cfg.OnExpired(ctx, e); err != nil {
		return 0, fmt.Errorf("below the retention floor: %w", err)
	}
	if err := move(ctx, e.Floor); err != nil {
		return 0, err
	}
	return -1, nil
}

func (f *Follower) advanced(pos int64) {
	f.setPosition(pos)
	if f.cfg.OnAdvance != nil {
		f.cfg.OnAdvance(pos)
	}
}

func (f *Follower) batch(events []store.Event) {
	if f.cfg.OnBatch != nil {
		f.cfg.OnBatch(events)
	}
}
