package reconcile_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/reconcile"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// slowEngine takes a while to start a workload, as Docker does, and
// counts the starts running at once; a name in fail fails permanently.
type slowEngine struct {
	memEngine
	delay   time.Duration
	fail    string
	smu     sync.Mutex
	now     int
	maxSeen int
}

func (e *slowEngine) Ensure(ctx context.Context, s workload.Spec) (workload.Status, error) {
	e.smu.Lock()
	e.now++
	e.maxSeen = max(e.maxSeen, e.now)
	e.smu.Unlock()
	defer func() { e.smu.Lock(); e.now--; e.smu.Unlock() }()
	time.Sleep(e.delay)
	if s.Env["LAB_NAME"] == e.fail {
		return workload.Status{}, fmt.Errorf("pull %s: %w", s.Image, workload.ErrImage)
	}
	return e.memEngine.Ensure(ctx, s)
}

// TestStartsOffTheWorkers: workload starts run in parallel up to
// StartConcurrency, beyond the number of workers, and a start's failure
// still reaches its lab.
func TestStartsOffTheWorkers(t *testing.T) {
	t.Parallel()
	for _, concurrency := range []int{8, 3} {
		t.Run(fmt.Sprint(concurrency), func(t *testing.T) {
			t.Parallel()
			db := servertest.OpenStore(t, servertest.SQLite)
			e := &slowEngine{memEngine: memEngine{running: map[string]workload.Status{}}, delay: 400 * time.Millisecond, fail: "lab-0"}
			ctrl := reconcile.New(reconcile.Config{Store: db, Engine: e, Workers: 2, StartConcurrency: concurrency,
				Capacity: workload.Resources{MilliCPU: 64000, MemoryBytes: 64 << 30}, Logger: logger(t)})
			ctx := context.Background()
			runController(t, db, ctrl)
			const n = 9
			for i := range n {
				if _, err := db.CreateLab(ctx, &api.LabInstanceRequest{Metadata: api.ObjectMeta{Name: fmt.Sprintf("lab-%d", i), Namespace: "default"},
					Spec: api.Spec{LabTemplate: "img", StudentEmail: "s@u.edu", DurationMinutes: 5}}); err != nil {
					t.Fatal(err)
				}
			}
			for i := range n {
				want := api.PhaseRunning
				if i == 0 {
					want = api.PhaseFailed
				}
				waitLab(t, db, api.Key{Namespace: "default", Name: fmt.Sprintf("lab-%d", i)}, func(l *api.LabInstanceRequest) bool { return l.Status.Phase == want })
			}
			e.smu.Lock()
			seen := e.maxSeen
			e.smu.Unlock()
			if seen > concurrency || seen <= 2 {
				t.Fatalf("%d starts at once with 2 workers and StartConcurrency %d", seen, concurrency)
			}
			l, err := db.GetLab(ctx, api.Key{Namespace: "default", Name: "lab-0"})
			if err != nil || l.Status.ErrorMessage == "" {
				t.Fatalf("failed start: %+v, %v", l.Status, err)
			}
		})
	}
}

// TestDeleteDuringStart: a lab deleted while its workload is being
// started keeps its finalizer until the start ended, and the finalizer
// removes what the start made: no workload is left behind.
func TestDeleteDuringStart(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.SQLite)
	e := &slowEngine{memEngine: memEngine{running: map[string]workload.Status{}}, delay: time.Second}
	ctrl := reconcile.New(reconcile.Config{Store: db, Engine: e,
		Capacity: workload.Resources{MilliCPU: 64000, MemoryBytes: 64 << 30}, Logger: logger(t)})
	ctx := context.Background()
	runController(t, db, ctrl)
	key := api.Key{Namespace: "default", Name: "gone"}
	if _, err := db.CreateLab(ctx, &api.LabInstanceRequest{Metadata: api.ObjectMeta{Name: key.Name, Namespace: key.Namespace},
		Spec: api.Spec{LabTemplate: "img", StudentEmail: "s@u.edu", DurationMinutes: 5}}); err != nil {
		t.Fatal(err)
	}
	servertest.Eventually(t, "the start under way", 10*time.Second, func() bool {
		e.smu.Lock()
		defer e.smu.Unlock()
		return e.now > 0
	})
	if _, _, err := db.DeleteLab(ctx, key, store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Eventually(t, "the lab gone", 30*time.Second, func() bool {
		_, err := db.GetLab(ctx, key)
		return api.IsNotFound(err)
	})
	servertest.Eventually(t, "the start over", 10*time.Second, func() bool {
		e.smu.Lock()
		defer e.smu.Unlock()
		return e.now == 0
	})
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.running) != 0 {
		t.Fatalf("workloads left after the lab went: %v", e.running)
	}
}
