// Package wait holds the two timing primitives every long-running part of
// labd and the provider needs: a sleep that ends with its context, and a
// jittered exponential backoff. They live in one place so that every loop
// stops promptly on shutdown and backs off the same way.
package wait

import (
	"context"
	"math/rand/v2"
	"time"
)

// Sleep waits d, or until ctx ends. It returns nil after the full wait and
// context.Cause(ctx) when ctx ended first, so that a loop can write
//
//	if err := wait.Sleep(ctx, d); err != nil { return err }
//
// A timer, not time.After: a loop that wakes early on ctx must not leave
// a timer behind per iteration.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return context.Cause(ctx)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// Backoff is a jittered exponential backoff: each Next doubles the wait up
// to Max and returns a random duration in [wait/2, wait], so that several
// clients retrying the same failure do not stay in step. The zero value
// uses 10ms to 10s. Not safe for concurrent use.
type Backoff struct {
	Min, Max time.Duration
	cur      time.Duration
}

// Defaults of a zero Backoff.
const (
	DefaultMin = 10 * time.Millisecond
	DefaultMax = 10 * time.Second
)

// Next returns the next wait and doubles the one after it.
func (b *Backoff) Next() time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = DefaultMin
	}
	if hi <= 0 {
		hi = DefaultMax
	}
	if b.cur < lo {
		b.cur = lo
	}
	d := min(b.cur, hi)
	b.cur = min(b.cur*2, hi)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// Reset starts the next failure from Min again.
func (b *Backoff) Reset() { b.cur = 0 }
