package reconcile

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// TestRankTree checks the order-statistic tree against a sorted slice
// after random inserts and deletes.
func TestRankTree(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	tree := newRankTree(func(a, b int) bool { return a < b })
	var model []int
	for i := range 5000 {
		v := r.IntN(2000)
		at, found := slices.BinarySearch(model, v)
		if r.IntN(3) > 0 && !found {
			tree.Insert(v)
			model = slices.Insert(model, at, v)
		} else if found {
			if !tree.Delete(v) {
				t.Fatalf("step %d: Delete(%d) found nothing", i, v)
			}
			model = slices.Delete(model, at, at+1)
		} else if tree.Delete(v) {
			t.Fatalf("step %d: Delete(%d) of an absent item", i, v)
		}
		if tree.Len() != len(model) {
			t.Fatalf("step %d: Len %d, want %d", i, tree.Len(), len(model))
		}
		if len(model) == 0 {
			continue
		}
		k := r.IntN(len(model))
		if got, ok := tree.At(k); !ok || got != model[k] {
			t.Fatalf("step %d: At(%d) = %d, want %d", i, k, got, model[k])
		}
		if rank, ok := tree.Rank(model[k]); !ok || rank != k {
			t.Fatalf("step %d: Rank(%d) = %d %v, want %d", i, model[k], rank, ok, k)
		}
		probe := r.IntN(2000)
		want, present := slices.BinarySearch(model, probe)
		if rank, ok := tree.Rank(probe); rank != want || ok != present {
			t.Fatalf("step %d: Rank(%d) = %d %v, want %d %v", i, probe, rank, ok, want, present)
		}
	}
	var all []int
	tree.Ascend(3, func(v int) bool { all = append(all, v); return true })
	if !slices.Equal(all, model[3:]) {
		t.Fatalf("Ascend(3) = %v, want %v", all, model[3:])
	}
}

// world is the truth the ledger property test drives: every lab's
// current state, and the outbox stream not yet delivered.
type world struct {
	r        *rand.Rand
	pos      int64
	labs     map[string]*api.LabInstanceRequest // current; deleted rows removed
	history  map[string][]*api.LabInstanceRequest
	stream   []streamEvent
	capacity workload.Resources
	now      time.Time
	seq      int
}

type streamEvent struct {
	lab     *api.LabInstanceRequest
	deleted bool
}

// write commits a new version of l and queues its outbox event.
func (w *world) write(l *api.LabInstanceRequest, deleted bool) *api.LabInstanceRequest {
	w.pos++
	c := l.DeepCopy()
	c.Metadata.ResourceVersion = w.pos
	if deleted {
		delete(w.labs, c.Metadata.UID)
	} else {
		w.labs[c.Metadata.UID] = c
	}
	w.history[c.Metadata.UID] = append(w.history[c.Metadata.UID], c)
	w.stream = append(w.stream, streamEvent{lab: c, deleted: deleted})
	return c
}

func (w *world) create() {
	w.seq++
	uid := fmt.Sprintf("lab-%04d", w.seq)
	created := w.now.Add(-time.Duration(w.r.IntN(600)) * time.Second) // clocks of replicas differ
	cpu := []string{"50m", "100m", "500m", "1", "3"}[w.r.IntN(5)]
	mem := []string{"64Mi", "256Mi", "1Gi", "4Gi"}[w.r.IntN(4)]
	l := &api.LabInstanceRequest{
		Metadata: api.ObjectMeta{Name: uid, Namespace: []string{"a", "b"}[w.r.IntN(2)], UID: uid, CreationTimestamp: &created,
			Finalizers: []string{api.Finalizer}},
		Spec:   api.Spec{StudentEmail: uid + "@u.edu", ResourceLimits: &api.ResourceLimits{CPU: "4", Memory: "8Gi"}, ResourceRequests: &api.ResourceRequests{CPU: cpu, Memory: mem}},
		Status: api.Status{Phase: api.PhasePending},
	}
	if w.r.IntN(5) == 0 {
		l.Spec.ScheduledStartTime = w.now.Add(time.Hour).Format(time.RFC3339)
	}
	if w.r.IntN(10) == 0 {
		l.Spec.ResourceRequests = nil // stored before requests existed: the defaults
	}
	w.write(l, false)
}

func (w *world) pick(ok func(*api.LabInstanceRequest) bool) *api.LabInstanceRequest {
	var c []string
	for uid, l := range w.labs {
		if ok(l) {
			c = append(c, uid)
		}
	}
	if len(c) == 0 {
		return nil
	}
	sort.Strings(c)
	return w.labs[c[w.r.IntN(len(c))]]
}

func phaseIs(ps ...api.Phase) func(*api.LabInstanceRequest) bool {
	return func(l *api.LabInstanceRequest) bool {
		return slices.Contains(ps, l.Status.Phase) && l.Metadata.DeletionTimestamp == nil
	}
}

// recount computes from scratch, from the truth alone, what the ledger
// should hold: the sum reserved, the number holding, and the queue order.
func (w *world) recount() (reserved workload.Resources, holders int, queue []string) {
	type q struct {
		uid string
		at  time.Time
	}
	var waiting []q
	for _, l := range w.labs {
		need := requests(l)
		switch {
		case holdsAllocation(l.Status.Phase), l.Status.Phase == api.PhasePending && len(l.Status.ResourceAllocation) > 0:
			reserved.MilliCPU += need.MilliCPU
			reserved.MemoryBytes += need.MemoryBytes
			holders++
		case l.Status.Phase == api.PhasePending && l.Metadata.DeletionTimestamp == nil && eligible(l, w.now) && need.Fits(w.capacity):
			waiting = append(waiting, q{l.Metadata.UID, eligibleAt(l)})
		}
	}
	sort.Slice(waiting, func(i, j int) bool {
		if !waiting[i].at.Equal(waiting[j].at) {
			return waiting[i].at.Before(waiting[j].at)
		}
		return waiting[i].uid < waiting[j].uid
	})
	for _, x := range waiting {
		queue = append(queue, x.uid)
	}
	return reserved, holders, queue
}

func (w *world) deliver(g *ledger, n int) {
	n = min(n, len(w.stream))
	if n == 0 {
		return
	}
	var labs []*api.LabInstanceRequest
	var deleted []bool
	for _, ev := range w.stream[:n] {
		labs = append(labs, ev.lab)
		deleted = append(deleted, ev.deleted)
	}
	g.observeStream(labs, deleted, labs[len(labs)-1].Metadata.ResourceVersion, w.now)
	w.stream = w.stream[n:]
}

func checkLedger(t *testing.T, step int, w *world, g *ledger) {
	t.Helper()
	reserved, holders, queue := w.recount()
	st := g.status(1 << 30)
	var got []string
	for _, q := range st.Queue {
		got = append(got, q.UID)
	}
	if g.reserved != reserved || st.Admitted != holders || !slices.Equal(got, queue) {
		t.Fatalf("step %d: ledger reserved %v, holders %d, queue %v\nrecount reserved %v, holders %d, queue %v",
			step, g.reserved, st.Admitted, got, reserved, holders, queue)
	}
	// Nothing is kept for labs the stream has passed and that neither
	// wait nor hold.
	for uid, e := range g.labs {
		if step == -2 {
			break // the stream has not replayed yet
		}
		if e.state == idle && e.version <= g.streamPos {
			t.Fatalf("step %d: idle entry %s kept after the stream passed it", step, uid)
		}
	}
}

// TestLedgerMatchesRecount drives the ledger with random sequences of
// what it sees in production, in the orders it can see them: the outbox
// stream (late, in position order, redelivered), the controller's own
// writes (at once, ahead of the stream), stale reads, admissions whose
// write fails, deletions. Whenever the stream has caught up, the ledger
// must equal a full recount of the labs.
func TestLedgerMatchesRecount(t *testing.T) {
	t.Parallel()
	for seed := range uint64(40) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			w := &world{r: rand.New(rand.NewPCG(seed, 7)), labs: map[string]*api.LabInstanceRequest{},
				history: map[string][]*api.LabInstanceRequest{}, capacity: workload.Resources{MilliCPU: 4000, MemoryBytes: 8 << 30}, now: t0}
			g := newLedger(w.capacity)
			// A term starts on labs that exist already.
			for range 20 {
				w.create()
			}
			var labs []*api.LabInstanceRequest
			for _, l := range w.labs {
				labs = append(labs, l)
			}
			g.resync(labs, w.pos, w.now)
			checkLedger(t, -2, w, g) // before the stream replays
			w.deliver(g, len(w.stream))
			checkLedger(t, -1, w, g)
			for step := range 1500 {
				switch w.r.IntN(13) {
				case 0, 1:
					w.create()
				case 2, 3: // the controller decides a waiting lab, as Reconcile does
					l := w.pick(phaseIs(api.PhasePending))
					if l == nil {
						continue
					}
					g.observe(l, false, w.now, fromRead)
					d, _ := g.decide(l, w.now)
					if !d.admit {
						continue
					}
					if w.r.IntN(4) == 0 {
						g.revert(l.Metadata.UID, d.version) // the write failed
						continue
					}
					// Admitted: still PENDING, its requests reserved,
					// until the engine places its workload.
					x := l.DeepCopy()
					x.Status.ResourceAllocation = api.StringMap{"cpu": "1"}
					g.observe(w.write(x, false), false, w.now, fromRead)
				case 4: // placed, or provisioned
					if l := w.pick(func(l *api.LabInstanceRequest) bool {
						return phaseIs(api.PhaseProvisioning)(l) || phaseIs(api.PhasePending)(l) && len(l.Status.ResourceAllocation) > 0
					}); l != nil {
						x := l.DeepCopy()
						x.Status.Phase = map[api.Phase]api.Phase{api.PhasePending: api.PhaseProvisioning, api.PhaseProvisioning: api.PhaseRunning}[l.Status.Phase]
						g.observe(w.write(x, false), false, w.now, fromRead)
					}
				case 5: // ended, through TIMEOUT or not; or failed while waiting for a place
					if l := w.pick(func(l *api.LabInstanceRequest) bool {
						return phaseIs(api.PhaseRunning, api.PhaseTimeout, api.PhaseProvisioning)(l) ||
							phaseIs(api.PhasePending)(l) && len(l.Status.ResourceAllocation) > 0
					}); l != nil {
						x := l.DeepCopy()
						x.Status.Phase = []api.Phase{api.PhaseCompleted, api.PhaseFailed, api.PhaseTimeout}[w.r.IntN(3)]
						switch l.Status.Phase {
						case api.PhaseTimeout:
							x.Status.Phase = api.PhaseCompleted
						case api.PhasePending:
							x.Status.Phase = api.PhaseFailed
						}
						if x.Status.Phase != api.PhaseTimeout {
							x.Status.ResourceAllocation = nil
						}
						g.observe(w.write(x, false), false, w.now, fromRead)
					}
				case 6: // a user starts a scheduled lab now (only the stream tells)
					if l := w.pick(func(l *api.LabInstanceRequest) bool {
						return phaseIs(api.PhasePending)(l) && l.Spec.ScheduledStartTime != ""
					}); l != nil {
						x := l.DeepCopy()
						x.Metadata.Annotations = api.StringMap{api.AnnotationStartRequested: w.now.Format(time.RFC3339)}
						w.write(x, false)
					}
				case 7: // a user deletes a lab; the finalizer runs later
					if l := w.pick(func(l *api.LabInstanceRequest) bool { return l.Metadata.DeletionTimestamp == nil }); l != nil {
						x := l.DeepCopy()
						now := w.now
						x.Metadata.DeletionTimestamp = &now
						w.write(x, false)
					}
				case 8: // the finalizer removes it: the row is gone
					if l := w.pick(func(l *api.LabInstanceRequest) bool { return l.Metadata.DeletionTimestamp != nil }); l != nil {
						x := l.DeepCopy()
						x.Metadata.Finalizers = nil
						g.observe(w.write(x, true), false, w.now, fromRead)
					}
				case 9: // a stale read arrives late
					if l := w.pick(func(*api.LabInstanceRequest) bool { return true }); l != nil {
						h := w.history[l.Metadata.UID]
						g.observe(h[w.r.IntN(len(h))], false, w.now, fromRead)
					}
				case 10:
					w.deliver(g, w.r.IntN(8))
				case 11:
					w.deliver(g, len(w.stream))
					checkLedger(t, step, w, g)
				case 12: // time passes; scheduled labs are reconciled at their start
					w.now = w.now.Add(time.Duration(w.r.IntN(90)) * time.Minute)
					for _, l := range w.labs {
						if start, err := api.ParseStartTime(l.Spec.ScheduledStartTime); err == nil && !start.After(w.now) {
							g.observe(l, false, w.now, fromRead)
						}
					}
				}
			}
			w.deliver(g, len(w.stream))
			checkLedger(t, 1500, w, g)
		})
	}
}

// TestLedgerWakesNextHead: admitting the head of the queue wakes the lab
// behind it at once, and releasing capacity wakes the head, so no lab
// waits while capacity is free.
func TestLedgerWakesNextHead(t *testing.T) {
	t.Parallel()
	g := newLedger(workload.Resources{MilliCPU: 1000, MemoryBytes: 1 << 30})
	var labs []*api.LabInstanceRequest
	for i := range 5 {
		labs = append(labs, sized(fmt.Sprintf("l%d", i), "500m", "64Mi", t0.Add(time.Duration(i)*time.Second)))
		labs[i].Metadata.ResourceVersion = int64(i + 1)
		g.observe(labs[i], false, t0, fromStream)
	}
	d, wakes := g.decide(labs[0], t0)
	if !d.admit || !slices.Contains(wakes, labs[1].Key()) {
		t.Fatalf("head admitted %v, wakes %v: want l1 woken", d.admit, wakes)
	}
	if d, _ := g.decide(labs[2], t0); d.admit || !strings.HasPrefix(d.message, "position 2 of 4") {
		t.Fatalf("l2 decided %+v before l1", d)
	}
	d, _ = g.decide(labs[1], t0)
	if !d.admit {
		t.Fatalf("l1 not admitted with room for it: %+v", d)
	}
	d, _ = g.decide(labs[2], t0)
	if d.admit || !strings.Contains(d.message, "free cpu 0") {
		t.Fatalf("l2 admitted over capacity: %+v", d)
	}
	// l0 ends: l2, now the head, is woken.
	done := labs[0].DeepCopy()
	done.Metadata.ResourceVersion = 9
	done.Status.Phase = api.PhaseCompleted
	if wakes := g.observe(done, false, t0, fromRead); !slices.Equal(wakes, []api.Key{labs[2].Key()}) {
		t.Fatalf("release woke %v, want l2", wakes)
	}
	// A failed admission write gives the reservation back.
	d, _ = g.decide(labs[2], t0)
	if !d.admit {
		t.Fatalf("l2 not admitted after release: %+v", d)
	}
	g.revert(labs[2].Metadata.UID, d.version)
	if st := g.status(10); st.Queued != 3 || st.Queue[0].UID != "l2" || st.Reserved.CPU != "500m" {
		t.Fatalf("after revert: %+v", st)
	}
}

// countingLess counts comparisons: a measure of the work per decision
// that, unlike time, does not depend on the machine's load.
type countingLess struct{ n int }

func (c *countingLess) less(a, b *ledgerEntry) bool { c.n++; return queueLess(a, b) }

// drain queues n labs and admits them all, head after head, releasing
// each right after (as labs whose image is missing fail at once). It
// returns the comparisons made per decision.
func drain(tb testing.TB, n int) float64 {
	c := &countingLess{}
	g := newLedger(workload.Resources{MilliCPU: 1000, MemoryBytes: 1 << 30})
	g.queue = newRankTree(c.less)
	labs := make([]*api.LabInstanceRequest, n)
	for i := range n {
		labs[i] = sized(fmt.Sprintf("l%07d", i), "1", "64Mi", t0.Add(time.Duration(i)*time.Millisecond))
		labs[i].Metadata.ResourceVersion = int64(i + 1)
		g.observe(labs[i], false, t0, fromStream)
	}
	c.n = 0
	decisions := 0
	for i := range n {
		// The head and the lab behind it are decided; the second waits.
		for _, l := range labs[i:min(i+2, n)] {
			d, _ := g.decide(l, t0)
			decisions++
			if l == labs[i] && !d.admit {
				tb.Fatalf("lab %d not admitted: %+v", i, d)
			}
		}
		done := labs[i].DeepCopy()
		done.Metadata.ResourceVersion = int64(n + i + 1)
		done.Status.Phase = api.PhaseFailed
		g.observe(done, false, t0, fromRead)
	}
	return float64(c.n) / float64(decisions)
}

// TestAdmissionIsLogarithmic drains queues of 1,000 and 32,000 labs: the
// work per decision (comparisons) grows with log n, not n. An O(n) scan per
// decision, as before the ledger, would make it 32 times larger.
func TestAdmissionIsLogarithmic(t *testing.T) {
	t.Parallel()
	small, large := drain(t, 1000), drain(t, 32000)
	t.Logf("comparisons per decision: %.1f at 1,000 labs, %.1f at 32,000", small, large)
	if large > 3*small {
		t.Fatalf("comparisons per decision grew from %.1f to %.1f: not O(log n)", small, large)
	}
}

// BenchmarkAdmission measures one admission decision (decide, then the
// release that lets the next lab in) with n labs queued.
func BenchmarkAdmission(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("queued=%d", n), func(b *testing.B) {
			g := newLedger(workload.Resources{MilliCPU: 1000, MemoryBytes: 1 << 30})
			labs := make([]*api.LabInstanceRequest, n+b.N)
			for i := range labs {
				labs[i] = sized(fmt.Sprintf("l%08d", i), "1", "64Mi", t0.Add(time.Duration(i)*time.Millisecond))
				labs[i].Metadata.ResourceVersion = int64(i + 1)
				if i < n {
					g.observe(labs[i], false, t0, fromStream)
				}
			}
			// Each admitted lab fails at once (its image is missing), as in
			// issue 9's 100,000-lab run: that releases its reservation.
			done := make([]*api.LabInstanceRequest, b.N)
			for i := range done {
				done[i] = labs[i].DeepCopy()
				done[i].Metadata.ResourceVersion = int64(len(labs) + i + 1)
				done[i].Status.Phase = api.PhaseFailed
			}
			b.ResetTimer()
			cpu := cpuTime()
			defer func() {
				// CPU time, unlike ns/op, does not count the time other
				// processes on a busy machine hold the cores.
				b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op")
			}()
			for i := range b.N {
				// Keep n queued: one joins at the tail as the head leaves.
				g.observe(labs[n+i], false, t0, fromStream)
				d, _ := g.decide(labs[i], t0)
				if !d.admit {
					b.Fatalf("lab %d not admitted", i)
				}
				g.observe(done[i], false, t0, fromRead)
			}
		})
	}
}

// cpuTime is the CPU time this process has used (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
