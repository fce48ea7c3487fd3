package group_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/group"
)

// untilDone is a well-behaved long-lived part: it runs until ctx ends,
// then takes a moment to clean up, and counts that it did.
func untilDone(stopped *atomic.Int32) func(context.Context) error {
	return func(ctx context.Context) error {
		<-ctx.Done()
		time.Sleep(10 * time.Millisecond)
		stopped.Add(1)
		return ctx.Err() // what a part returns on the way out is not a failure
	}
}

func wait(t *testing.T, g *group.Group) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- g.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return within 10s")
		return nil
	}
}

func TestParentStopsAll(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	g, gctx := group.New(ctx)
	var stopped atomic.Int32
	for _, name := range []string{"a", "b", "c"} {
		g.Go(name, untilDone(&stopped))
	}
	cancel()
	if err := wait(t, g); err != nil {
		t.Fatalf("Wait = %v, want nil after the parent ended", err)
	}
	if n := stopped.Load(); n != 3 {
		t.Fatalf("Wait returned with %d of 3 parts stopped", n)
	}
	if gctx.Err() == nil {
		t.Fatal("group context still live")
	}
}

func TestFailureStopsTheOthers(t *testing.T) {
	t.Parallel()
	g, gctx := group.New(context.Background())
	var stopped atomic.Int32
	boom := errors.New("boom")
	g.Go("a", untilDone(&stopped))
	g.Go("b", untilDone(&stopped))
	g.Go("failing", func(context.Context) error { return boom })
	err := wait(t, g)
	if !errors.Is(err, boom) || err.Error() != "failing: boom" {
		t.Fatalf("Wait = %v, want failing: boom", err)
	}
	if n := stopped.Load(); n != 2 {
		t.Fatalf("Wait returned with %d of 2 parts stopped", n)
	}
	if cause := context.Cause(gctx); !errors.Is(cause, boom) {
		t.Fatalf("cause = %v", cause)
	}
}

func TestReturnStopsTheOthers(t *testing.T) {
	t.Parallel()
	g, _ := group.New(context.Background())
	var stopped atomic.Int32
	g.Go("a", untilDone(&stopped))
	g.Go("quitter", func(context.Context) error { return nil })
	err := wait(t, g)
	if !errors.Is(err, group.ErrReturned) || err.Error() != "quitter: "+group.ErrReturned.Error() {
		t.Fatalf("Wait = %v, want quitter: %v", err, group.ErrReturned)
	}
	if stopped.Load() != 1 {
		t.Fatal("the other part was not stopped")
	}
}

// TestFirstErrorWins: errors of parts that end because the group stops
// are not reported.
func TestFirstErrorWins(t *testing.T) {
	t.Parallel()
	g, _ := group.New(context.Background())
	first := errors.New("first")
	g.Go("late", func(ctx context.Context) error {
		<-ctx.Done()
		return errors.New("failed while stopping")
	})
	g.Go("early", func(context.Context) error { return first })
	if err := wait(t, g); !errors.Is(err, first) {
		t.Fatalf("Wait = %v, want the first error", err)
	}
}
