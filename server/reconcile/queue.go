package reconcile

import (
	"container/heap"
	"sync"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// Queue is a work queue of lab keys, as client-go's: a key is never
// processed by two workers at once (a key added while it is processing is
// queued again when it is Done), duplicates coalesce, failures back off
// per key, and AddAfter schedules time-based work.
type Queue struct {
	mu         sync.Mutex
	cond       *sync.Cond
	queue      []api.Key
	urgent     []api.Key             // taken before queue (AddUrgent)
	urgentNext map[api.Key]bool      // added urgently while processing: Done queues it urgently
	dirty      map[api.Key]time.Time // when the key was added
	processing map[api.Key]bool
	failures   map[api.Key]int
	delayed    delayHeap
	shutdown   bool
	now        func() time.Time
	timer      *time.Timer

	BaseDelay time.Duration // first retry delay after a failure (5ms)
	MaxDelay  time.Duration // cap of the per-key backoff (5m)
	// OnGet, if set, is told how long each key waited before a worker took it.
	OnGet func(wait time.Duration)
}

// NewQueue returns an empty queue.
func NewQueue() *Queue {
	q := &Queue{
		dirty: map[api.Key]time.Time{}, processing: map[api.Key]bool{}, failures: map[api.Key]int{},
		urgentNext: map[api.Key]bool{}, delayed: delayHeap{index: map[api.Key]int{}},
		now: time.Now, BaseDelay: 5 * time.Millisecond, MaxDelay: 5 * time.Minute,
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add queues key unless it is already waiting.
func (q *Queue) Add(key api.Key) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.add(key)
}

func (q *Queue) add(key api.Key) {
	if _, dirty := q.dirty[key]; q.shutdown || dirty {
		return
	}
	q.dirty[key] = q.now()
	if q.processing[key] {
		return // queued again by Done
	}
	q.queue = append(q.queue, key)
	q.cond.Signal()
}

// AddUrgent queues key ahead of the keys added with Add: work that
// unblocks others (the head of the capacity queue, which may fit now; a
// start that ended) is not put behind a backlog of thousands of labs. A
// key already waiting moves ahead; its older place is skipped by Get.
func (q *Queue) AddUrgent(key api.Key) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shutdown {
		return
	}
	if _, dirty := q.dirty[key]; !dirty {
		q.dirty[key] = q.now()
	}
	if q.processing[key] {
		q.urgentNext[key] = true // queued again, urgently, by Done
		return
	}
	q.urgent = append(q.urgent, key)
	q.cond.Signal()
}

// AddAfter queues key once d has passed. An earlier pending schedule for
// the same key wins; a later one is dropped.
func (q *Queue) AddAfter(key api.Key, d time.Duration) {
	if d <= 0 {
		q.Add(key)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shutdown {
		return
	}
	at := q.now().Add(d)
	if i, ok := q.delayed.index[key]; ok {
		if at.Before(q.delayed.keys[i].at) {
			q.delayed.keys[i].at = at
			heap.Fix(&q.delayed, i)
			q.armTimer()
		}
		return
	}
	heap.Push(&q.delayed, delayedKey{key: key, at: at})
	q.armTimer()
}

// AddRateLimited queues key after its backoff: BaseDelay × 2^failures,
// capped at MaxDelay.
func (q *Queue) AddRateLimited(key api.Key) {
	q.mu.Lock()
	n := q.failures[key]
	q.failures[key] = n + 1
	q.mu.Unlock()
	q.AddAfter(key, q.backoff(n))
}

func (q *Queue) backoff(n int) time.Duration {
	d := q.BaseDelay
	for range n {
		d *= 2
		if d >= q.MaxDelay {
			return q.MaxDelay
		}
	}
	return d
}

// Failures reports how often key has failed since it was last forgotten.
func (q *Queue) Failures(key api.Key) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.failures[key]
}

// Forget clears key's backoff after a success.
func (q *Queue) Forget(key api.Key) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.failures, key)
}

// Get blocks until a key is ready or the queue shuts down; the caller must
// call Done with the key.
func (q *Queue) Get() (api.Key, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var key api.Key
	for {
		for len(q.urgent) == 0 && len(q.queue) == 0 && !q.shutdown {
			q.cond.Wait()
		}
		if q.shutdown {
			return api.Key{}, false
		}
		if len(q.urgent) > 0 {
			key, q.urgent = q.urgent[0], q.urgent[1:]
		} else {
			key, q.queue = q.queue[0], q.queue[1:]
		}
		// A key can have a place in both lanes (AddUrgent): the one
		// taken second is stale, as is one whose key is being processed
		// (Done queues it again).
		if _, dirty := q.dirty[key]; dirty && !q.processing[key] {
			break
		}
	}
	q.processing[key] = true
	if q.OnGet != nil {
		q.OnGet(q.now().Sub(q.dirty[key]))
	}
	delete(q.dirty, key)
	return key, true
}

// Done marks key processed; if it was added meanwhile it is queued again.
func (q *Queue) Done(key api.Key) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, key)
	urgent := q.urgentNext[key]
	delete(q.urgentNext, key)
	if _, dirty := q.dirty[key]; dirty && !q.shutdown {
		if urgent {
			q.urgent = append(q.urgent, key)
		} else {
			q.queue = append(q.queue, key)
		}
		q.cond.Signal()
	}
}

// Len is the number of keys ready to process (the queue depth).
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.queue) + len(q.urgent)
}

// ShutDown wakes every Get with shutdown and drops pending work.
func (q *Queue) ShutDown() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shutdown = true
	if q.timer != nil {
		q.timer.Stop()
	}
	q.cond.Broadcast()
}

// armTimer makes the timer fire at the earliest delayed key.
func (q *Queue) armTimer() {
	if q.delayed.Len() == 0 {
		return
	}
	d := q.delayed.keys[0].at.Sub(q.now())
	if q.timer == nil {
		q.timer = time.AfterFunc(d, q.fire)
		return
	}
	q.timer.Reset(d)
}

func (q *Queue) fire() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	for q.delayed.Len() > 0 && !q.delayed.keys[0].at.After(now) {
		q.add(heap.Pop(&q.delayed).(delayedKey).key)
	}
	if !q.shutdown {
		q.armTimer()
	}
}

type delayedKey struct {
	key api.Key
	at  time.Time
}

// delayHeap is a min-heap of delayed keys by time, with each key's place
// in it, so that AddAfter finds a key already scheduled in O(1), not by a
// scan of every delayed key.
type delayHeap struct {
	keys  []delayedKey
	index map[api.Key]int
}

func (h delayHeap) Len() int           { return len(h.keys) }
func (h delayHeap) Less(i, j int) bool { return h.keys[i].at.Before(h.keys[j].at) }
func (h delayHeap) Swap(i, j int) {
	h.keys[i], h.keys[j] = h.keys[j], h.keys[i]
	h.index[h.keys[i].key], h.index[h.keys[j].key] = i, j
}
func (h *delayHeap) Push(x any) {
	k := x.(delayedKey)
	h.index[k.key] = len(h.keys)
	h.keys = append(h.keys, k)
}
func (h *delayHeap) Pop() any {
	x := h.keys[len(h.keys)-1]
	h.keys = h.keys[:len(h.keys)-1]
	delete(h.index, x.key)
	return x
}
