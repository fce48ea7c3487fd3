package reconcile_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/reconcile"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// memEngine runs workloads in memory and reports a fixed capacity (or
// fails to).
type memEngine struct {
	reconcile.Engine
	capacity    workload.Resources
	capacityErr error
	largest     workload.Resources // zero: the engine cannot tell (not checked)
	mu          sync.Mutex
	running     map[string]workload.Status
}

func (e *memEngine) Capacity(context.Context) (workload.Resources, error) {
	return e.capacity, e.capacityErr
}

func (e *memEngine) Ensure(_ context.Context, s workload.Spec) (workload.Status, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := workload.Status{ID: "id-" + s.Name, Name: s.Name, State: workload.Running, StartedAt: time.Now(), Labels: s.Labels}
	e.running[s.Name] = st
	return st, nil
}

func (e *memEngine) Inspect(_ context.Context, name string) (workload.Status, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, ok := e.running[name]
	if !ok {
		return st, workload.ErrNotFound
	}
	return st, nil
}

func (e *memEngine) List(context.Context) ([]workload.Status, error) { return nil, nil }

// TestCapacityFromEngine: a capacity field not configured is the
// engine's; a configured one wins.
func TestCapacityFromEngine(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.SQLite)
	e := &memEngine{capacity: workload.Resources{MilliCPU: 1000, MemoryBytes: 1 << 30}, running: map[string]workload.Status{}}
	ctrl := reconcile.New(reconcile.Config{Store: db, Engine: e, Capacity: workload.Resources{MilliCPU: 8000}, Logger: logger(t)})
	ctx := context.Background()
	runController(t, db, ctrl)
	create := func(name, cpu, memory string) api.Key {
		key := api.Key{Namespace: "default", Name: name}
		if _, err := db.CreateLab(ctx, &api.LabInstanceRequest{Metadata: api.ObjectMeta{Name: name, Namespace: "default"},
			Spec: api.Spec{LabTemplate: "img", StudentEmail: "s@u.edu", DurationMinutes: 5,
				ResourceLimits: &api.ResourceLimits{CPU: cpu, Memory: memory}, ResourceRequests: &api.ResourceRequests{CPU: cpu, Memory: memory}}}); err != nil {
			t.Fatal(err)
		}
		return key
	}
	// Two cores: more than the engine's one, within the configured eight.
	cpu := create("cpu", "2", "32Mi")
	waitLab(t, db, cpu, func(l *api.LabInstanceRequest) bool { return l.Status.Phase == api.PhaseRunning })
	// 2Gi: more than the engine's memory, which was not configured.
	mem := create("memory", "100m", "2Gi")
	waitLab(t, db, mem, func(l *api.LabInstanceRequest) bool { return l.Status.Phase == api.PhaseFailed })
	l, err := db.GetLab(ctx, mem)
	if err != nil || !strings.Contains(l.Status.ErrorMessage, "the host has only cpu 8, memory 1Gi") {
		t.Fatalf("lab asking for more memory than the engine has: %+v %v", l.Status, err)
	}
}

// TestCapacityUnreadable: without a configured capacity, an engine that
// cannot say its own stops the controller with the reason.
func TestCapacityUnreadable(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.SQLite)
	down := errors.New("engine down")
	ctrl := reconcile.New(reconcile.Config{Store: db, Engine: &memEngine{capacityErr: down}, Capacity: workload.Resources{MemoryBytes: 1 << 30}, Logger: logger(t)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	term, err := db.StartTerm(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if err := ctrl.Run(ctx, term); !errors.Is(err, down) || !strings.Contains(err.Error(), "capacity") {
		t.Fatalf("Run = %v, want the engine's capacity error", err)
	}
}

func (e *memEngine) Largest(context.Context) (workload.Resources, error) { return e.largest, nil }

// TestTooLargeForEngine: a lab whose limits exceed the largest workload the
// engine can ever run fails at admission with the reason, releasing
// nothing it never held, and the next lab is admitted.
func TestTooLargeForEngine(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.SQLite)
	e := &memEngine{capacity: workload.Resources{MilliCPU: 2000, MemoryBytes: 4 << 30}, largest: workload.Resources{MilliCPU: 2000, MemoryBytes: 4 << 30},
		running: map[string]workload.Status{}}
	// Capacity configured above the engine (overcommit): admission alone
	// would let the lab through, and the engine would refuse it.
	ctrl := reconcile.New(reconcile.Config{Store: db, Engine: e, Capacity: workload.Resources{MilliCPU: 16000, MemoryBytes: 64 << 30}, Logger: logger(t)})
	ctx := context.Background()
	stop := runController(t, db, ctrl)
	defer stop()
	big := api.Key{Namespace: "default", Name: "big"}
	if _, err := db.CreateLab(ctx, &api.LabInstanceRequest{Metadata: api.ObjectMeta{Name: big.Name},
		Spec: api.Spec{LabTemplate: "img", StudentEmail: "s@u.edu", DurationMinutes: 5, ResourceLimits: &api.ResourceLimits{CPU: "8", Memory: "64Mi"}}}); err != nil {
		t.Fatal(err)
	}
	waitLab(t, db, big, func(l *api.LabInstanceRequest) bool { return l.Status.Phase == api.PhaseFailed })
	l, _ := db.GetLab(ctx, big)
	if tr := l.Status.Transitions; len(tr) != 1 || tr[0].Reason != "TooLargeForEngine" || !strings.Contains(l.Status.ErrorMessage, "largest workload the engine can ever run (cpu 2, memory 4Gi)") {
		t.Fatalf("status %+v", l.Status)
	}
	if _, err := e.Inspect(ctx, workload.Name(l.Metadata.UID)); err == nil {
		t.Fatal("the engine was asked to run it")
	}
}
