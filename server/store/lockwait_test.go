package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// TestLockWaits: Lock waits for a held lock, gives up after LockWait
// without it, is granted the moment the holder's session ends, and ends
// with its context.
func TestLockWaits(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.Postgres)
	ctx := context.Background()
	open := func(id string) *store.LockSession {
		s, err := db.OpenLockSession(ctx, store.LockSessionConfig{Name: "wait", Identity: id, LockWait: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close(context.Background()) })
		return s
	}
	holder, waiter := open("holder"), open("waiter")
	if got, err := holder.Lock(ctx); err != nil || !got {
		t.Fatalf("free lock: %v, %v", got, err)
	}
	start := time.Now()
	if got, err := waiter.Lock(ctx); err != nil || got || waiter.Held() {
		t.Fatalf("held lock: got %v, %v", got, err)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("gave up after %s, want the 300ms LockWait", d)
	}
	// The holder's session ends while the waiter waits.
	go func() {
		time.Sleep(100 * time.Millisecond)
		holder.Close(context.Background())
	}()
	granted := make(chan error, 1)
	go func() {
		for {
			got, err := waiter.Lock(ctx)
			if err != nil || got {
				granted <- err
				return
			}
		}
	}()
	select {
	case err := <-granted:
		if err != nil || !waiter.Held() {
			t.Fatalf("waiter: %v, held %v", err, waiter.Held())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waiter not granted the lock after the holder's session ended")
	}
	if err := waiter.Heartbeat(ctx); err != nil {
		t.Fatalf("heartbeat of the new holder: %v", err)
	}
	// A wait ends with its context.
	other := open("other")
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := other.Lock(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled wait: %v", err)
	}
}
