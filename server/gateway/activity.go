package gateway

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/internal/wait"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// streamTouchEvery is how often traffic on one long-lived request (a
// WebSocket, a stream) marks its lab as used.
const streamTouchEvery = time.Second

// flushTimeout bounds one batch write, and the last one when Run stops.
const flushTimeout = 10 * time.Second

// activity remembers, per lab, its latest use since the last flush.
type activity struct {
	store Store
	now   func() time.Time
	log   *slog.Logger

	mu   sync.Mutex
	seen map[api.Key]store.Activity
}

func newActivity(s Store, now func() time.Time, log *slog.Logger) *activity {
	return &activity{store: s, now: now, log: log, seen: map[api.Key]store.Activity{}}
}

// touch marks the lab as used now.
func (a *activity) touch(key api.Key, uid string) {
	at := a.now()
	a.mu.Lock()
	if prev, ok := a.seen[key]; !ok || prev.UID != uid || at.After(prev.At) {
		a.seen[key] = store.Activity{Key: key, UID: uid, At: at}
	}
	a.mu.Unlock()
}

// toucher returns a touch for traffic on one request that marks the lab at
// most once per streamTouchEvery.
func (a *activity) toucher(key api.Key, uid string) func() {
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	return func() {
		now := time.Now().UnixNano()
		if prev := last.Load(); now-prev >= int64(streamTouchEvery) && last.CompareAndSwap(prev, now) {
			a.touch(key, uid)
		}
	}
}

// flush writes what was seen since the last flush, in one batch; a batch
// that fails is kept for the next.
func (a *activity) flush(ctx context.Context) error {
	a.mu.Lock()
	if len(a.seen) == 0 {
		a.mu.Unlock()
		return nil
	}
	batch := make([]store.Activity, 0, len(a.seen))
	for _, s := range a.seen {
		batch = append(batch, s)
	}
	a.seen = map[api.Key]store.Activity{}
	a.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	n, err := a.store.RecordActivity(ctx, batch)
	if err != nil {
		a.mu.Lock()
		for _, s := range batch {
			if cur, ok := a.seen[s.Key]; !ok || (cur.UID == s.UID && cur.At.Before(s.At)) {
				a.seen[s.Key] = s
			}
		}
		a.mu.Unlock()
		return err
	}
	a.log.Debug("gateway: recorded activity", "labs", len(batch), "updated", n)
	return nil
}

// run flushes every interval (and calls sweep) until ctx ends, then
// flushes once more.
func (a *activity) run(ctx context.Context, interval time.Duration, sweep func()) error {
	for wait.Sleep(ctx, interval) == nil {
		if err := a.flush(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("gateway: record activity; kept for the next batch", "err", err)
		}
		sweep()
	}
	if err := a.flush(context.WithoutCancel(ctx)); err != nil {
		a.log.Warn("gateway: record activity at shutdown", "err", err)
	}
	return nil
}

// Flush writes the activity seen so far now, rather than at the next
// interval (tests, and a shutdown that cannot wait).
func (g *Gateway) Flush(ctx context.Context) error { return g.activity.flush(ctx) }
