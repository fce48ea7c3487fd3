package wait

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSleepEndsWithContext(t *testing.T) {
	t.Parallel()
	cause := errors.New("stopped")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	start := time.Now()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, cause) {
		t.Fatalf("Sleep on an ended context = %v, want the cause %v", err, cause)
	}
	if time.Since(start) > time.Second {
		t.Fatal("Sleep on an ended context waited")
	}
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("a full Sleep = %v, want nil", err)
	}
}

func TestBackoffDoublesWithinBoundsAndResets(t *testing.T) {
	t.Parallel()
	b := Backoff{Min: 8 * time.Millisecond, Max: 100 * time.Millisecond}
	want := []time.Duration{8, 16, 32, 64, 100, 100}
	for i, w := range want {
		w *= time.Millisecond
		if got := b.Next(); got < w/2 || got > w {
			t.Fatalf("Next #%d = %s, want within [%s, %s]", i, got, w/2, w)
		}
	}
	b.Reset()
	if got := b.Next(); got > 8*time.Millisecond {
		t.Fatalf("Next after Reset = %s, want at most Min", got)
	}
	var zero Backoff
	if got := zero.Next(); got < DefaultMin/2 || got > DefaultMin {
		t.Fatalf("zero Backoff Next = %s, want about %s", got, DefaultMin)
	}
}
