package docker

import (
	"context"
	"sync"
	"time"

	"github.com/docker/docker/client"
	"golang.org/x/sync/singleflight"
)

// PullRetry is how long a failed pull of an image is remembered: labs
// asking for that image meanwhile fail with the same reason instead of
// each asking the registry again. A class of a hundred labs with a
// misspelt image costs one pull, not a hundred (kubelet backs off image
// pulls for the same reason, from ten seconds). An image loaded into the
// engine meanwhile is found at once: only pulls are remembered.
const PullRetry = 10 * time.Second

// pulls runs at most one pull per image reference at a time: labs of a
// class start together and ask for the same image, and all wait for the
// one pull. The pull runs on a context of its own (the engine's pull
// timeout), so that the lab that started it giving up does not fail the
// others; each caller stops waiting when its own context ends.
type pulls struct {
	flight singleflight.Group
	mu     sync.Mutex
	failed map[string]failedPull // by reference
	now    func() time.Time
}

type failedPull struct {
	err error
	at  time.Time
}

func newPulls(now func() time.Time) *pulls {
	return &pulls{failed: map[string]failedPull{}, now: now}
}

// do pulls ref with pull, or joins the pull of ref under way, or returns
// the error of a pull of ref that failed less than PullRetry ago.
func (p *pulls) do(ctx context.Context, ref string, pull func(context.Context, string) error) error {
	if err := p.recent(ref); err != nil {
		return err
	}
	ch := p.flight.DoChan(ref, func() (any, error) {
		err := pull(context.WithoutCancel(ctx), ref)
		if err != nil && !client.IsErrConnectionFailed(err) {
			p.remember(ref, err) // the image's fault, not the engine's absence
		}
		return nil, err
	})
	select {
	case <-ctx.Done():
		return ctx.Err()
	case res := <-ch:
		return res.Err
	}
}

func (p *pulls) recent(ref string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f, ok := p.failed[ref]; ok && p.now().Sub(f.at) < PullRetry {
		return f.err
	}
	return nil
}

func (p *pulls) remember(ref string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	for r, f := range p.failed {
		if now.Sub(f.at) >= PullRetry {
			delete(p.failed, r)
		}
	}
	p.failed[ref] = failedPull{err: err, at: now}
}
