package reconcile_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/reconcile"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// TestNoStallWithManyWorkers is issue 9's stall: with more workers than
// labs at the head of the queue, labs that found others queued before them
// waited for the periodic resync while capacity was free. Here the resync
// is an hour away and 50 labs are created at once on 16 workers with room
// for all: every one must start, and soon; then, with room for 10 at a
// time, 30 more drain through the queue as capacity is released.
func TestNoStallWithManyWorkers(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.Postgres)
	e := &memEngine{running: map[string]workload.Status{}}
	ctrl := reconcile.New(reconcile.Config{Store: db, Engine: e, Workers: 16, Logger: logger(t),
		Capacity:     workload.Resources{MilliCPU: 64000, MemoryBytes: 64 << 30},
		ResyncPeriod: time.Hour, WaitRecheck: time.Hour, ProbeInterval: time.Hour})
	ctx := context.Background()
	runController(t, db, ctrl)
	create := func(name, cpu string) api.Key {
		l, err := db.CreateLab(ctx, &api.LabInstanceRequest{Metadata: api.ObjectMeta{Name: name, Namespace: "default"},
			Spec: api.Spec{LabTemplate: "img", StudentEmail: "s@u.edu", DurationMinutes: 60,
				ResourceLimits: &api.ResourceLimits{CPU: cpu, Memory: "64Mi"}, ResourceRequests: &api.ResourceRequests{CPU: cpu, Memory: "64Mi"}}})
		if err != nil {
			t.Fatal(err)
		}
		return l.Key()
	}
	start := time.Now()
	var keys []api.Key
	for i := range 50 {
		keys = append(keys, create(fmt.Sprintf("lab-%02d", i), "1"))
	}
	for _, k := range keys {
		waitLab(t, db, k, func(l *api.LabInstanceRequest) bool { return l.Status.Phase == api.PhaseRunning })
	}
	t.Logf("50 labs on 16 workers RUNNING %v after the first create", time.Since(start).Round(time.Millisecond))

	// 30 labs of 6 CPUs: 2 fit in the 14 CPUs left (10 once the 1-CPU labs
	// end); each one stopped lets the next start.
	var big []api.Key
	for i := range 30 {
		big = append(big, create(fmt.Sprintf("big-%02d", i), "6"))
	}
	for _, k := range keys {
		if _, err := db.UpdateLab(ctx, k, store.WriteOptions{}, func(x *api.LabInstanceRequest) error { return api.RequestStop(x, time.Now()) }); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range big {
		waitLab(t, db, k, func(l *api.LabInstanceRequest) bool {
			return l.Status.Phase == api.PhaseRunning || l.Status.Phase == api.PhasePending
		})
	}
	running := func() (n int) {
		for _, k := range big {
			if l, err := db.GetLab(ctx, k); err == nil && l.Status.Phase == api.PhaseRunning {
				n++
			}
		}
		return n
	}
	servertest.Eventually(t, "10 big labs RUNNING", 30*time.Second, func() bool { return running() == 10 })
	// Stop each big lab as it runs: all 30 get their turn, none waits
	// for a resync.
	servertest.Eventually(t, "all 30 big labs ran", 60*time.Second, func() bool {
		completed := 0
		for _, k := range big {
			l, err := db.GetLab(ctx, k)
			switch {
			case err != nil:
			case l.Status.Phase == api.PhaseCompleted:
				completed++
			case l.Status.Phase == api.PhaseRunning:
				_, _ = db.UpdateLab(ctx, k, store.WriteOptions{}, func(x *api.LabInstanceRequest) error { return api.RequestStop(x, time.Now()) })
			}
		}
		return completed == len(big)
	})
	t.Logf("50 small and 30 big labs through the queue in %v", time.Since(start).Round(time.Millisecond))
}

func (e *memEngine) Stop(_ context.Context, name string, _ time.Duration) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if st, ok := e.running[name]; ok {
		st.State, st.FinishedAt = workload.Exited, time.Now()
		e.running[name] = st
	}
	return nil
}

func (e *memEngine) Remove(_ context.Context, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.running, name)
	return nil
}

func (e *memEngine) Logs(_ context.Context, name string, _ int) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.running[name]; !ok {
		return "", workload.ErrNotFound
	}
	return "output of " + name + "\n", nil
}
