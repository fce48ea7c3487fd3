package reconcile

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

func key(n string) api.Key { return api.Key{Namespace: "default", Name: n} }

func TestQueueCoalescesAndNeverRunsAKeyTwiceAtOnce(t *testing.T) {
	t.Parallel()
	q := NewQueue()
	q.Add(key("a"))
	q.Add(key("a"))
	q.Add(key("b"))
	if q.Len() != 2 {
		t.Fatalf("len = %d, want 2 (duplicates coalesce)", q.Len())
	}
	k, _ := q.Get()
	if k != key("a") {
		t.Fatalf("got %v first", k)
	}
	// Added while processing: not handed out again until Done.
	q.Add(key("a"))
	k2, _ := q.Get()
	if k2 != key("b") || q.Len() != 0 {
		t.Fatalf("got %v, len %d; a must wait for Done", k2, q.Len())
	}
	q.Done(key("a"))
	if q.Len() != 1 {
		t.Fatalf("a not requeued after Done: len %d", q.Len())
	}

	// Many workers, many adds: no key is ever held by two workers.
	q2 := NewQueue()
	var inFlight sync.Map
	var bad atomic.Int32
	var handled atomic.Int32
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k, ok := q2.Get()
				if !ok {
					return
				}
				if _, dup := inFlight.LoadOrStore(k, true); dup {
					bad.Add(1)
				}
				time.Sleep(50 * time.Microsecond)
				inFlight.Delete(k)
				handled.Add(1)
				q2.Done(k)
			}
		}()
	}
	for i := range 2000 {
		q2.Add(key(string(rune('a' + i%5))))
	}
	deadline := time.Now().Add(5 * time.Second)
	for q2.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	q2.ShutDown()
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d times a key was processed concurrently", bad.Load())
	}
	if handled.Load() == 0 || handled.Load() >= 2000 {
		t.Fatalf("handled %d; want coalescing below 2000 adds", handled.Load())
	}
}

func TestQueueBackoffAndDelay(t *testing.T) {
	t.Parallel()
	q := NewQueue()
	q.BaseDelay, q.MaxDelay = time.Millisecond, 8*time.Millisecond
	for n, want := range []time.Duration{1, 2, 4, 8, 8} {
		if got := q.backoff(n); got != want*time.Millisecond {
			t.Fatalf("backoff(%d) = %s, want %s", n, got, want*time.Millisecond)
		}
	}
	k := key("slow")
	q.AddRateLimited(k)
	q.AddRateLimited(k)
	if q.Failures(k) != 2 {
		t.Fatalf("failures = %d", q.Failures(k))
	}
	got := make(chan api.Key, 1)
	go func() { k, _ := q.Get(); got <- k }()
	select {
	case g := <-got:
		if g != k {
			t.Fatalf("got %v", g)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("rate-limited key never delivered")
	}
	q.Done(k)
	q.Forget(k)
	if q.Failures(k) != 0 {
		t.Fatal("Forget did not reset the backoff")
	}

	// An earlier AddAfter wins over a later one for the same key.
	q.AddAfter(key("t"), time.Hour)
	q.AddAfter(key("t"), 5*time.Millisecond)
	start := time.Now()
	go func() { k, _ := q.Get(); got <- k }()
	select {
	case g := <-got:
		if g != key("t") || time.Since(start) > time.Minute {
			t.Fatalf("got %v after %s", g, time.Since(start))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("delayed key never delivered")
	}
	q.ShutDown()
	if _, ok := q.Get(); ok {
		t.Fatal("Get after ShutDown returned a key")
	}
}

// TestQueueUrgent: a key added with AddUrgent is taken before the backlog,
// once, even when it also waits in the backlog; a key being processed is
// not handed to a second worker, and comes back once Done.
func TestQueueUrgent(t *testing.T) {
	t.Parallel()
	q := NewQueue()
	k := func(i int) api.Key { return api.Key{Namespace: "default", Name: fmt.Sprint("lab-", i)} }
	for i := range 5 {
		q.Add(k(i))
	}
	q.AddUrgent(k(3)) // waiting already: moves ahead
	q.AddUrgent(k(9)) // new
	var got []string
	for range 6 {
		key, ok := q.Get()
		if !ok {
			t.Fatal("queue shut down")
		}
		got = append(got, key.Name)
		q.Done(key)
	}
	if want := "lab-3 lab-9 lab-0 lab-1 lab-2 lab-4"; strings.Join(got, " ") != want {
		t.Fatalf("order %q, want %q", strings.Join(got, " "), want)
	}
	if n := q.Len(); n != 0 {
		t.Fatalf("Len after every key was taken = %d, want 0 (the stale place of lab-3 is gone)", n)
	}

	q.Add(k(1))
	key, _ := q.Get() // processing
	q.AddUrgent(key)  // while processing: queued again when Done, not handed out twice
	q.Add(k(2))
	next, _ := q.Get()
	if next != k(2) {
		t.Fatalf("took %v while %v is processing, want lab-2", next, key)
	}
	q.Done(next)
	q.Done(key)
	again, _ := q.Get()
	if again != key {
		t.Fatalf("after Done, took %v, want %v again", again, key)
	}

	// Added urgently while processing (Result.Requeue): Done queues it
	// ahead of the backlog, not behind it.
	for i := 10; i < 15; i++ {
		q.Add(k(i))
	}
	q.AddUrgent(again)
	q.Done(again)
	if first, _ := q.Get(); first != again {
		t.Fatalf("after Done, took %v ahead of %v, which was added urgently while processing", first, again)
	}
}

// TestQueueDelayedIndex: the delayed keys' index stays true to the heap
// through pushes, reschedules and pops, so every key is delivered once,
// at its earliest time. Only rescheduled keys come due during the test
// (the rest wait an hour), so no timing can deliver a key twice.
func TestQueueDelayedIndex(t *testing.T) {
	t.Parallel()
	q := NewQueue()
	defer q.ShutDown()
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 300
	name := func(i int) api.Key { return key(fmt.Sprint("d-", i)) }
	for i := range n {
		q.AddAfter(name(i), time.Hour+time.Duration(rng.IntN(1000))*time.Millisecond)
	}
	due := map[api.Key]bool{}
	for i := 0; i < n; i += 3 { // earlier: wins; later: dropped
		q.AddAfter(name(i), time.Duration(1+rng.IntN(5))*time.Millisecond)
		q.AddAfter(name(i), 2*time.Hour)
		due[name(i)] = true
	}
	consistent := func() {
		t.Helper()
		q.mu.Lock()
		defer q.mu.Unlock()
		if len(q.delayed.index) != q.delayed.Len() {
			t.Fatalf("%d indexed, %d delayed", len(q.delayed.index), q.delayed.Len())
		}
		for i, k := range q.delayed.keys {
			if q.delayed.index[k.key] != i {
				t.Fatalf("index of %v = %d, want %d", k.key, q.delayed.index[k.key], i)
			}
		}
	}
	consistent()
	seen := map[api.Key]bool{}
	deadline := time.After(10 * time.Second)
	for len(seen) < len(due) {
		got := make(chan api.Key, 1)
		go func() { k, _ := q.Get(); got <- k }()
		select {
		case k := <-got:
			if !due[k] || seen[k] {
				t.Fatalf("%v delivered (due: %v, already delivered: %v)", k, due[k], seen[k])
			}
			seen[k] = true
			q.Done(k)
		case <-deadline:
			t.Fatalf("%d of %d rescheduled keys delivered", len(seen), len(due))
		}
	}
	consistent()
	if l := q.delayed.Len(); l < n-len(due) {
		t.Fatalf("%d keys still delayed, want at least the %d not rescheduled", l, n-len(due))
	}
}
