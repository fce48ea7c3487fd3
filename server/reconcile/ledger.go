package reconcile

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// The admission ledger: what the leader's controller knows of capacity,
// in memory, so that an admission decision costs O(log n) instead of a
// re-read of every lab.
//
// It holds, for every lab that waits for capacity or holds a reservation,
// its requests and state, plus the sum of what is reserved and the queue
// of waiting labs in admission order (a rankTree, for the labs' places).
// It is built from the store when a term starts (rebuild) and kept current
// from three sources, all through observe:
//
//   - the controller's outbox stream, which delivers every change with its
//     object, in position order;
//   - the controller's own writes, applied as soon as they commit (the
//     stream delivers them again later);
//   - every lab a reconcile reads.
//
// Each entry remembers the resource_version it reflects; an older version
// is ignored, so the three sources can overlap and arrive in any order.
// The same version is classified again, as time may have made a
// scheduled lab eligible (its reconcile at its start time observes it).
// A lab that leaves the ledger's interest (ended, deleted) is kept as an
// idle entry until the stream has delivered its version, so that a late,
// older event cannot bring it back.
//
// An admission reserves tentatively (inflight) before its write: other
// decisions see the reservation at once, and the next lab in the queue is
// woken at once; if the write fails, revert puts the lab back in the
// queue, unless a newer version has been observed meanwhile.

// entryState is what a lab is to the ledger.
type entryState uint8

const (
	idle      entryState = iota // neither waiting nor holding
	scheduled                   // PENDING until its start time: waiting from then on
	waiting                     // PENDING, eligible, fits the capacity: in the queue
	holding                     // PROVISIONING, RUNNING or TIMEOUT: its requests are reserved
)

// ledgerEntry is what the ledger knows of one lab.
type ledgerEntry struct {
	uid      string
	key      api.Key
	student  string
	version  int64 // the resource_version reflected
	state    entryState
	need     workload.Resources
	at       time.Time // when it became eligible: the queue order, with uid
	inflight bool      // holding tentatively: the admission's write is under way
	heapIdx  int       // in ledger.idle, or -1
}

// ledger is safe for concurrent use.
type ledger struct {
	mu        sync.Mutex
	capacity  workload.Resources
	reserved  workload.Resources
	holders   int
	labs      map[string]*ledgerEntry // by uid
	keys      map[api.Key]string      // key -> uid of the entry holding it
	queue     *rankTree[*ledgerEntry]
	idle      idleHeap // idle entries, by version, until the stream passes them
	streamPos int64    // every outbox position at or below this has been observed

	recorded store.Capacity // what the term recorded last (total, largest, by whom, when)

	needs map[requestKey]workload.Resources // parsed requests, by how labs spell them
}

// requestKey is how a lab spells its requests and limits: few distinct
// spellings serve a whole class, and parsing them (a regexp and a
// big.Rat each) would otherwise be most of an admission decision.
type requestKey struct {
	req, lim api.Resources
	hasReq   bool
}

// maxNeeds bounds the cache of parsed requests.
const maxNeeds = 4096

// needOf is requests(l), through the cache.
func (g *ledger) needOf(l *api.LabInstanceRequest) workload.Resources {
	k := requestKey{lim: l.Spec.EffectiveLimits()}
	if rr := l.Spec.ResourceRequests; rr != nil {
		k.req, k.hasReq = *rr, true
	}
	if n, ok := g.needs[k]; ok {
		return n
	}
	n := requests(l)
	if len(g.needs) >= maxNeeds {
		clear(g.needs)
	}
	g.needs[k] = n
	return n
}

func newLedger(capacity workload.Resources) *ledger {
	return &ledger{
		capacity: capacity,
		labs:     map[string]*ledgerEntry{},
		keys:     map[api.Key]string{},
		queue:    newRankTree(queueLess),
		needs:    map[requestKey]workload.Resources{},
	}
}

// source is where an observed lab comes from.
type source uint8

const (
	fromStream source = iota // the outbox stream: in order
	fromRead                 // a write's result or a fresh read: possibly ahead of the stream
)

// classify is the state a lab needing need puts the ledger in. Pure.
func classify(l *api.LabInstanceRequest, need workload.Resources, deleted bool, now time.Time, capacity workload.Resources) (entryState, workload.Resources) {
	switch {
	case deleted, l.Metadata.DeletionTimestamp != nil && len(l.Metadata.Finalizers) == 0:
		return idle, need // the row is gone
	case holdsAllocation(l.Status.Phase), admitted(l):
		return holding, need
	case l.Status.Phase != api.PhasePending || l.Metadata.DeletionTimestamp != nil || !need.Fits(capacity):
		return idle, need // ended, being deleted, or failing as too big
	case eligible(l, now):
		return waiting, need
	}
	return scheduled, need
}

// mark is the queue's head and what is reserved, before a change: after
// it, wakes says which labs must look at the queue again.
type mark struct {
	head     string
	reserved workload.Resources
}

func (g *ledger) mark() mark {
	m := mark{reserved: g.reserved}
	if e, ok := g.queue.At(0); ok {
		m.head = e.uid
	}
	return m
}

// wakes lists the labs to reconcile after a change since m: the head when
// it is another lab or capacity was released (it may fit now), and, when
// the old head left the queue, the labs whose place has just become a
// power of two, whose condition may then be due for a rewrite
// (rewriteCondition): O(log n) labs.
func (g *ledger) wakes(m mark) []api.Key {
	head, ok := g.queue.At(0)
	if !ok {
		return nil
	}
	released := g.reserved.MilliCPU < m.reserved.MilliCPU || g.reserved.MemoryBytes < m.reserved.MemoryBytes
	if head.uid == m.head && !released {
		return nil
	}
	out := []api.Key{head.key}
	if m.head != "" && head.uid != m.head {
		if e := g.labs[m.head]; e == nil || e.state != waiting {
			for i := 1; i < g.queue.Len(); i = 2*i + 1 {
				if e, ok := g.queue.At(i); ok {
					out = append(out, e.key)
				}
			}
		}
	}
	return out
}

// observe applies a lab's state (deleted: its row is gone) unless the
// ledger reflects that version or a newer one already. It returns the
// labs to wake.
func (g *ledger) observe(l *api.LabInstanceRequest, deleted bool, now time.Time, src source) []api.Key {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.mark()
	g.apply(l, deleted, now)
	if src == fromStream {
		g.advance(l.Metadata.ResourceVersion)
	}
	return g.wakes(m)
}

// observeStream applies a batch of the outbox stream.
func (g *ledger) observeStream(labs []*api.LabInstanceRequest, deleted []bool, pos int64, now time.Time) []api.Key {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.mark()
	for i, l := range labs {
		g.apply(l, deleted[i], now)
	}
	g.advance(pos)
	return g.wakes(m)
}

func (g *ledger) apply(l *api.LabInstanceRequest, deleted bool, now time.Time) {
	uid, v := l.Metadata.UID, l.Metadata.ResourceVersion
	e := g.labs[uid]
	if e != nil && (v < e.version || v == e.version && e.inflight) {
		return
	}
	if e == nil && v <= g.streamPos {
		// The stream has delivered this version and any later one up to
		// streamPos, and left no entry: as of streamPos the lab neither
		// waits nor holds, and this is that state or an older one.
		return
	}
	st, need := classify(l, g.needOf(l), deleted, now, g.capacity)
	if e == nil {
		e = &ledgerEntry{uid: uid, heapIdx: -1}
		g.labs[uid] = e
	}
	at := eligibleAt(l)
	if e.version == v && e.state == st && e.at.Equal(at) {
		return // the same, again
	}
	g.leave(e)
	if old := g.keys[e.key]; old == uid {
		delete(g.keys, e.key)
	}
	e.key, e.student, e.version, e.state, e.need, e.inflight = l.Key(), l.Spec.StudentEmail, v, st, need, false
	e.at = at
	g.keys[e.key] = uid
	g.enter(e)
}

// leave takes e's contribution out of the sums and the queue.
func (g *ledger) leave(e *ledgerEntry) {
	switch e.state {
	case waiting:
		g.queue.Delete(e)
	case holding:
		g.reserved = g.reserved.Sub(e.need)
		g.holders--
	}
	if e.heapIdx >= 0 {
		heap.Remove(&g.idle, e.heapIdx)
	}
}

// enter adds e's contribution; an idle entry waits in the heap until the
// stream passes its version.
func (g *ledger) enter(e *ledgerEntry) {
	switch e.state {
	case waiting:
		g.queue.Insert(e)
	case holding:
		g.reserved = add(g.reserved, e.need)
		g.holders++
	case idle:
		if e.version <= g.streamPos {
			g.drop(e)
			return
		}
		heap.Push(&g.idle, e)
	}
}

func (g *ledger) drop(e *ledgerEntry) {
	delete(g.labs, e.uid)
	if g.keys[e.key] == e.uid {
		delete(g.keys, e.key)
	}
}

// advance records that the stream has delivered every position up to
// pos, and forgets the idle entries it has passed.
func (g *ledger) advance(pos int64) {
	g.streamPos = max(g.streamPos, pos)
	for len(g.idle) > 0 && g.idle[0].version <= g.streamPos {
		e := heap.Pop(&g.idle).(*ledgerEntry)
		g.drop(e)
	}
}

func add(a, b workload.Resources) workload.Resources {
	return workload.Resources{MilliCPU: a.MilliCPU + b.MilliCPU, MemoryBytes: a.MemoryBytes + b.MemoryBytes}
}

// decision is the ledger's answer for one lab.
type decision struct {
	admission
	need    workload.Resources
	version int64 // of the lab decided on
	queued  bool  // the lab is in the queue (else: decide again later)
}

// decide observes the lab just read and decides its admission. An
// admitted lab holds its reservation tentatively at once: the caller
// writes the admission, then calls settle with what it wrote, or revert
// if the write failed.
func (g *ledger) decide(l *api.LabInstanceRequest, now time.Time) (decision, []api.Key) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.mark()
	g.apply(l, false, now)
	need := g.needOf(l)
	d := decision{need: need, version: l.Metadata.ResourceVersion}
	e := g.labs[l.Metadata.UID]
	if !need.Fits(g.capacity) {
		d.admission = admit(need, queueView{Capacity: g.capacity})
		return d, g.wakes(m)
	}
	if e == nil || e.state != waiting || e.version != l.Metadata.ResourceVersion {
		return d, g.wakes(m) // the ledger knows a newer version
	}
	rank, _ := g.queue.Rank(e)
	d.queued = true
	d.admission = admit(need, queueView{Capacity: g.capacity, Reserved: g.reserved, Position: rank + 1, Length: g.queue.Len()})
	if d.admit {
		g.queue.Delete(e)
		e.state, e.inflight = holding, true
		g.reserved = add(g.reserved, e.need)
		g.holders++
	}
	return d, g.wakes(m)
}

// revert undoes a tentative admission whose write failed, unless a newer
// version of the lab has been observed since.
func (g *ledger) revert(uid string, version int64) []api.Key {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.labs[uid]
	if e == nil || !e.inflight || e.version != version {
		return nil
	}
	m := g.mark()
	g.leave(e)
	e.state, e.inflight = waiting, false
	g.enter(e)
	return g.wakes(m)
}

// forgetKey drops what the ledger holds for a lab that a read found gone.
func (g *ledger) forgetKey(key api.Key) []api.Key {
	g.mu.Lock()
	defer g.mu.Unlock()
	uid, ok := g.keys[key]
	if !ok {
		return nil
	}
	m := g.mark()
	e := g.labs[uid]
	g.leave(e)
	g.drop(e)
	return g.wakes(m)
}

// resync reconciles the ledger with a full list of the labs that wait or
// hold (listed at or after position pos): each is observed, and entries
// of labs the list no longer has, and whose version is older than the
// list, are dropped. It rebuilds an empty ledger at the start of a term,
// and corrects one after the stream lost events (outbox.ExpiredError).
// The stream then goes on from its bookmark, before pos: what it replays
// is older than the list and ignored, except for labs the list did not
// have (ended or deleted since), which the replay itself brings back to
// their last state.
func (g *ledger) resync(labs []*api.LabInstanceRequest, pos int64, now time.Time) []api.Key {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.mark()
	seen := make(map[string]bool, len(labs))
	for _, l := range labs {
		seen[l.Metadata.UID] = true
		g.apply(l, false, now)
	}
	for uid, e := range g.labs {
		if !seen[uid] && !e.inflight && e.version <= pos {
			g.leave(e)
			g.drop(e)
		}
	}
	return g.wakes(m)
}

// setCapacity changes the total and what the term records of it; labs
// that no longer fit leave the queue at their next observation (their
// reconcile fails them). It returns the labs to wake: the head, when
// capacity grew.
func (g *ledger) setCapacity(c workload.Resources, rec store.Capacity) []api.Key {
	g.mu.Lock()
	defer g.mu.Unlock()
	grew := c.MilliCPU > g.capacity.MilliCPU || c.MemoryBytes > g.capacity.MemoryBytes
	g.capacity, g.recorded = c, rec
	if head, ok := g.queue.At(0); ok && grew {
		return []api.Key{head.key}
	}
	return nil
}

// recordedCapacity is what the term recorded last.
func (g *ledger) recordedCapacity() store.Capacity {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.recorded
}

// status reports the capacity and the first limit labs of the queue.
func (g *ledger) status(limit int) api.CapacityStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := api.CapacityStatus{
		Total:    resources(g.capacity),
		Reserved: resources(g.reserved),
		Free:     resources(g.capacity.Sub(g.reserved)),
		Admitted: g.holders,
		Queued:   g.queue.Len(),
		Queue:    make([]api.QueuedLab, 0, min(limit, g.queue.Len())),
	}
	g.queue.Ascend(0, func(e *ledgerEntry) bool {
		if len(st.Queue) >= limit {
			return false
		}
		st.Queue = append(st.Queue, api.QueuedLab{
			Position: len(st.Queue) + 1, Namespace: e.key.Namespace, Name: e.key.Name, UID: e.uid,
			StudentEmail: e.student, Requests: resources(e.need), EligibleSince: e.at,
		})
		return true
	})
	return st
}

func resources(r workload.Resources) api.Resources {
	return api.Resources{CPU: api.FormatCPU(r.MilliCPU), Memory: api.FormatMemory(r.MemoryBytes)}
}

// idleHeap orders idle entries by version.
type idleHeap []*ledgerEntry

func (h idleHeap) Len() int           { return len(h) }
func (h idleHeap) Less(i, j int) bool { return h[i].version < h[j].version }
func (h idleHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i, j
}
func (h *idleHeap) Push(x any) {
	e := x.(*ledgerEntry)
	e.heapIdx = len(*h)
	*h = append(*h, e)
}
func (h *idleHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.heapIdx = -1
	return e
}

// Capacity reports the capacity and the first limit labs of the queue
// from the ledger of the term this controller leads; ok is false while it
// does not lead (see CapacityFromStore).
func (c *Controller) Capacity(limit int) (st api.CapacityStatus, ok bool) {
	led := c.ledger.Load()
	if led == nil {
		return st, false
	}
	st = led.status(limit)
	st.Source = "leader"
	recordedInto(&st, led.recordedCapacity())
	return st, true
}

// CapacityFromStore computes what the leader's ledger holds from the
// store alone, for replicas that do not lead: the total the leader
// recorded at the start of its term, and the labs that wait or hold,
// through the same ledger code. It reads every such lab: O(n), for a
// status page, never for admission. api.EUNAVAILABLE before any leader
// recorded a capacity.
func CapacityFromStore(ctx context.Context, db *store.DB, limit int, now time.Time) (api.CapacityStatus, error) {
	rec, found, err := db.RecordedCapacity(ctx)
	if err != nil {
		return api.CapacityStatus{}, err
	}
	if !found {
		return api.CapacityStatus{}, api.Errorf(api.EUNAVAILABLE, "capacity unknown: no controller has led yet")
	}
	c := &Controller{cfg: Config{Store: db}}
	led := newLedger(workload.Resources{MilliCPU: rec.MilliCPU, MemoryBytes: rec.MemoryBytes})
	var labs []*api.LabInstanceRequest
	for _, p := range []api.Phase{api.PhasePending, api.PhaseProvisioning, api.PhaseRunning, api.PhaseTimeout} {
		page, _, err := c.listPhase(ctx, p)
		if err != nil {
			return api.CapacityStatus{}, err
		}
		labs = append(labs, page...)
	}
	led.resync(labs, 0, now)
	st := led.status(limit)
	st.Source = "store"
	recordedInto(&st, rec)
	return st, nil
}

// recordedInto adds to st what the term recorded: by whom and when, and
// the most one lab may be given (when the engine said).
func recordedInto(st *api.CapacityStatus, rec store.Capacity) {
	at := rec.RecordedAt
	st.RecordedAt, st.RecordedBy = &at, rec.RecordedBy
	if rec.MaxMilliCPU > 0 && rec.MaxMemoryBytes > 0 {
		st.MaxPerLab = &api.Resources{CPU: api.FormatCPU(rec.MaxMilliCPU), Memory: api.FormatMemory(rec.MaxMemoryBytes)}
	}
}
