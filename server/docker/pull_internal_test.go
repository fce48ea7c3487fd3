package docker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

// TestPullsCoalesce: labs asking for the same image at once share one
// pull; a failure is remembered for PullRetry, then tried again; a caller
// that gives up does not fail the others; an unreachable engine is not
// remembered. The engine is a fake here: what is tested is the
// coalescing. TestMissingImage runs the real engine.
func TestPullsCoalesce(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	p := newPulls(clock)

	var calls atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	denied := errors.New("pull access denied")
	pull := func(ctx context.Context, ref string) error {
		calls.Add(1)
		select {
		case started <- struct{}{}:
		default:
		}
		<-release
		return denied
	}

	const n = 8
	errs := make(chan error, n)
	go func() { errs <- p.do(context.Background(), "img:1", pull) }()
	<-started
	for range n - 1 {
		go func() { errs <- p.do(context.Background(), "img:1", pull) }()
	}
	// One waiter gives up: it returns at once, the pull goes on.
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.do(gone, "img:1", pull); !errors.Is(err, context.Canceled) {
		t.Fatalf("a caller that gave up got %v", err)
	}
	time.Sleep(20 * time.Millisecond) // let the others join the pull
	close(release)
	for range n {
		if err := <-errs; !errors.Is(err, denied) {
			t.Fatalf("a waiter got %v, want the pull's error", err)
		}
	}
	if c := calls.Load(); c != 1 {
		t.Fatalf("%d labs asking at once made %d pulls, want 1", n, c)
	}

	// Remembered for PullRetry: no pull.
	advance(PullRetry - time.Second)
	if err := p.do(context.Background(), "img:1", pull); !errors.Is(err, denied) || calls.Load() != 1 {
		t.Fatalf("within PullRetry: %v after %d pulls", err, calls.Load())
	}
	// Then tried again.
	advance(2 * time.Second)
	if err := p.do(context.Background(), "img:1", pull); !errors.Is(err, denied) || calls.Load() != 2 {
		t.Fatalf("after PullRetry: %v after %d pulls, want a second pull", err, calls.Load())
	}

	// An unreachable engine is not the image's fault: not remembered.
	down := func(ctx context.Context, ref string) error {
		calls.Add(1)
		return client.ErrorConnectionFailed("unix:///nonexistent.sock")
	}
	before := calls.Load()
	for range 2 {
		if err := p.do(context.Background(), "img:2", down); !client.IsErrConnectionFailed(err) {
			t.Fatalf("engine down: %v", err)
		}
	}
	if c := calls.Load() - before; c != 2 {
		t.Fatalf("an unreachable engine was remembered: %d pulls for 2 asks", c)
	}
}
