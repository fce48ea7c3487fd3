// Package group runs long-lived parts that live and stop together: the
// first part to return, with or without an error, cancels the context of
// the others, and Wait waits for all of them. labd runs its leader's work
// (controller, CloudEvents delivery, outbox pruner) and the controller its
// own loops (outbox watcher, resync, garbage collector, workers) this way.
//
// It is golang.org/x/sync/errgroup with two rules that long-lived parts
// need and errgroup leaves to every caller:
//
//   - a part that returns nil while the group runs stops the group too (a
//     long-lived part has no business ending on its own), and Wait reports
//     it as an error wrapping ErrReturned;
//   - what a part returns once the group is stopping is not the group's
//     failure (it is most often the cancellation itself), so Wait returns
//     the error of the part that stopped the group, named after it, or nil
//     when the parent context stopped it.
package group

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"
)

// ErrReturned: a part returned nil while the group was running.
var ErrReturned = errors.New("returned while the group was running")

// Group is a set of parts started with Go. Use New; the zero value is not
// usable.
type Group struct {
	eg  *errgroup.Group
	ctx context.Context
}

// New returns an empty group and the context its parts run under: it is
// cancelled when ctx is, or as soon as one part returns. Its cause
// (context.Cause) is the error Wait will return.
func New(ctx context.Context) (*Group, context.Context) {
	eg, gctx := errgroup.WithContext(ctx)
	return &Group{eg: eg, ctx: gctx}, gctx
}

// Go starts run with the group's context, as the part called name.
func (g *Group) Go(name string, run func(ctx context.Context) error) {
	g.eg.Go(func() error {
		err := run(g.ctx)
		switch {
		case g.ctx.Err() != nil:
			return nil // the group was already stopping
		case err == nil:
			return fmt.Errorf("%s: %w", name, ErrReturned)
		}
		return fmt.Errorf("%s: %w", name, err)
	})
}

// Wait waits for every part to return and reports why the group stopped:
// the first part's error (wrapping ErrReturned if it returned nil), or nil
// when the parent context ended first.
func (g *Group) Wait() error { return g.eg.Wait() }
