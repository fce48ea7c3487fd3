package reconcile_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/reconcile"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// slowStopEngine runs workloads in memory; Stop blocks until released.
type slowStopEngine struct {
	reconcile.Engine
	mu       sync.Mutex
	ctrs     map[string]workload.Status
	stopping chan struct{}
	release  chan struct{}
}

func (r *slowStopEngine) Ensure(_ context.Context, s workload.Spec) (workload.Status, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := workload.Status{ID: "id-" + s.Name, Name: s.Name, State: workload.Running, StartedAt: time.Now(), Labels: s.Labels}
	r.ctrs[s.Name] = st
	return st, nil
}

func (r *slowStopEngine) Inspect(_ context.Context, name string) (workload.Status, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.ctrs[name]
	if !ok {
		return st, workload.ErrNotFound
	}
	return st, nil
}

func (r *slowStopEngine) Stop(ctx context.Context, name string, _ time.Duration) error {
	close(r.stopping)
	select {
	case <-r.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.ctrs[name]
	st.State = workload.Exited
	r.ctrs[name] = st
	return nil
}

func (r *slowStopEngine) List(context.Context) ([]workload.Status, error) { return nil, nil }

// TestStopDrainsReconcilesInFlight: when the controller stops (shutdown or
// lost leadership) while a reconcile is stopping a container, the reconcile
// is allowed to finish and record its result, and Run waits for it.
func TestStopDrainsReconcilesInFlight(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.SQLite)
	rt := &slowStopEngine{ctrs: map[string]workload.Status{}, stopping: make(chan struct{}), release: make(chan struct{})}
	ctrl := reconcile.New(reconcile.Config{Store: db, Engine: rt, Capacity: workload.Resources{MilliCPU: 1000, MemoryBytes: 1 << 30},
		DrainTimeout: time.Minute, Logger: logger(t)})
	ctx := context.Background()
	term, err := db.StartTerm(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(runCtx, term) }()

	key := api.Key{Namespace: "default", Name: "drain"}
	if _, err := db.CreateLab(ctx, &api.LabInstanceRequest{Metadata: api.ObjectMeta{Name: key.Name, Namespace: key.Namespace},
		Spec: api.Spec{LabTemplate: "img", StudentEmail: "s@u.edu", DurationMinutes: 5,
			ResourceLimits: &api.ResourceLimits{CPU: "100m", Memory: "32Mi"}}}); err != nil {
		t.Fatal(err)
	}
	waitLab(t, db, key, func(l *api.LabInstanceRequest) bool { return l.Status.Phase == api.PhaseRunning })
	if _, err := db.UpdateLab(ctx, key, store.WriteOptions{}, func(x *api.LabInstanceRequest) error {
		x.Metadata.Annotations = api.StringMap{api.AnnotationStopRequested: "now"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rt.stopping:
	case <-time.After(30 * time.Second):
		t.Fatal("the controller never stopped the container")
	}
	stop() // shutdown while the container is being stopped
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) with a reconcile in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(rt.release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the reconcile finished")
	}
	l, err := db.GetLab(ctx, key)
	if err != nil || l.Status.Phase != api.PhaseCompleted {
		t.Fatalf("drained reconcile did not record its result: %+v %v", l, err)
	}
}

func waitLab(t *testing.T, db *store.DB, key api.Key, cond func(*api.LabInstanceRequest) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := db.GetLab(context.Background(), key)
		if err == nil && cond(l) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lab %s: condition not met: %+v %v", key, l, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *slowStopEngine) Largest(context.Context) (workload.Resources, error) {
	return workload.Resources{MilliCPU: 8000, MemoryBytes: 64 << 30}, nil
}
