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
	"github.com/labrm/terraform-provider-lab/server/store/storetest"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// countingObserver counts reconcile results.
type countingObserver struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *countingObserver) Reconciled(result string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n[result]++
}
func (o *countingObserver) QueueWait(time.Duration) {}
func (o *countingObserver) FinalizerRun(bool)       {}

func (o *countingObserver) count(result string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[result]
}

// TestConflictsBackOff: a write that keeps conflicting (here every update
// of the lab's row matches nothing, as if another writer always won) is
// retried with a growing backoff, never in a hot loop: a few dozen tries
// in three seconds, not thousands.
func TestConflictsBackOff(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.Postgres)
	ctx := context.Background()
	l, err := db.CreateLab(ctx, &api.LabInstanceRequest{Metadata: api.ObjectMeta{Name: "contested", Namespace: "default"},
		Spec: api.Spec{LabTemplate: "img", StudentEmail: "s@u.edu", DurationMinutes: 5}})
	if err != nil {
		t.Fatal(err)
	}
	// Every UPDATE of the row silently does nothing: the store reads it
	// as a lost race, a conflict, each time.
	if err := db.InTx(ctx, func(tx *store.Tx) error {
		return storetest.Exec(ctx, tx, `CREATE FUNCTION skip_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
			CREATE TRIGGER skip_update BEFORE UPDATE ON lab_instances FOR EACH ROW EXECUTE FUNCTION skip_update();`)
	}); err != nil {
		t.Fatal(err)
	}
	obs := &countingObserver{n: map[string]int{}}
	e := &memEngine{capacity: workload.Resources{MilliCPU: 1000, MemoryBytes: 1 << 30}, running: map[string]workload.Status{}}
	ctrl := reconcile.New(reconcile.Config{Store: db, Engine: e, Observer: obs, Logger: logger(t), ResyncPeriod: time.Hour})
	stop := runController(t, db, ctrl)
	time.Sleep(3 * time.Second)
	stop()
	n := obs.count("conflict")
	if n < 3 || n > 40 {
		t.Fatalf("%d conflicting reconciles of %s in 3s: want a backoff (a few, growing apart), not a hot loop", n, l.Key())
	}
	t.Logf("%d conflicting reconciles in 3s", n)
}
