package reconcile_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/docker"
	"github.com/labrm/terraform-provider-lab/server/reconcile"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/store/storetest"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// clock is real time plus an offset the test can move forward, so that
// hour-long durations pass in milliseconds while Docker's times stay real.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

type harness struct {
	t     *testing.T
	db    *store.DB
	rt    *docker.Engine
	clock *clock
	ctrl  *reconcile.Controller
	image string
	done  chan error
	term  store.Term
}

func logger(t *testing.T) *slog.Logger {
	if os.Getenv("LAB_TEST_VERBOSE") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// runController runs ctrl under a new term of db until stop is called or
// the test ends; stop returns Run's error, and one left unread at the
// test's end fails it.
func runController(t *testing.T, db *store.DB, ctrl *reconcile.Controller) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	term, err := db.StartTerm(ctx, "t")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(ctx, term) }()
	var read atomic.Bool
	stopOnce := sync.OnceValue(func() error { cancel(); return <-done })
	t.Cleanup(func() {
		if err := stopOnce(); err != nil && !read.Load() {
			t.Errorf("Run: %v", err)
		}
	})
	return func() error { read.Store(true); return stopOnce() }
}

// start runs a controller on a fresh PostgreSQL database and the real
// Docker engine.
func start(t *testing.T, tune func(*reconcile.Config)) *harness {
	t.Helper()
	img := servertest.Docker(t)
	db := servertest.OpenStore(t, servertest.Postgres)
	rt, err := docker.New(docker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, db: db, rt: rt, clock: &clock{}, image: img, done: make(chan error, 1)}
	cfg := reconcile.Config{
		Store: db, Engine: rt, Workers: 4,
		Capacity:      workload.Resources{MilliCPU: 4000, MemoryBytes: 8 << 30},
		AccessHost:    "127.0.0.1",
		AccessURL:     testAccessURL,
		StopTimeout:   2 * time.Second,
		ProbeInterval: 200 * time.Millisecond,
		ResyncPeriod:  300 * time.Millisecond,
		GCInterval:    200 * time.Millisecond,
		GCGrace:       time.Hour,
		WaitRecheck:   200 * time.Millisecond,
		Logger:        logger(t),
		Now:           h.clock.Now,
	}
	if tune != nil {
		tune(&cfg)
	}
	h.ctrl = reconcile.New(cfg)
	h.term, err = db.StartTerm(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { h.done <- h.ctrl.Run(ctx, h.term) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(30 * time.Second):
			t.Error("controller did not stop within 30s")
		}
		h.removeContainers()
	})
	return h
}

// removeContainers removes what this test's labs left behind.
func (h *harness) removeContainers() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := h.db.InstallationID(ctx)
	if err != nil {
		return
	}
	ctrs, _ := h.rt.List(ctx)
	for _, c := range ctrs {
		if c.Labels[workload.LabelInstallation] == id {
			h.rt.Remove(ctx, c.Name)
		}
	}
	wss, _ := h.rt.ListWorkspaces(ctx)
	for _, w := range wss {
		if w.Labels[workload.LabelInstallation] == id {
			h.rt.RemoveWorkspace(ctx, w.Name)
		}
	}
}

func (h *harness) create(name string, mutate func(*api.LabInstanceRequest)) *api.LabInstanceRequest {
	h.t.Helper()
	l := &api.LabInstanceRequest{
		Metadata: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.Spec{LabTemplate: h.image, StudentEmail: "student@university.edu", DurationMinutes: 60,
			ResourceLimits: &api.ResourceLimits{CPU: "100m", Memory: "32Mi"}},
	}
	if mutate != nil {
		mutate(l)
	}
	out, err := h.db.CreateLab(context.Background(), l)
	if err != nil {
		h.t.Fatalf("create %s: %v", name, err)
	}
	return out
}

// waitFor polls the lab until cond holds, failing after 60 s with the
// last state seen.
func (h *harness) waitFor(name, what string, cond func(*api.LabInstanceRequest) bool) *api.LabInstanceRequest {
	h.t.Helper()
	key := api.Key{Namespace: "default", Name: name}
	deadline := time.Now().Add(60 * time.Second)
	var last *api.LabInstanceRequest
	var lastErr error
	for time.Now().Before(deadline) {
		l, err := h.db.GetLab(context.Background(), key)
		last, lastErr = l, err
		if cond(l) {
			return l
		}
		time.Sleep(20 * time.Millisecond)
	}
	if lastErr != nil {
		h.t.Fatalf("%s: waiting for %s: %v", name, what, lastErr)
	}
	h.t.Fatalf("%s: waiting for %s; last phase %s, status %+v", name, what, last.Status.Phase, last.Status)
	return nil
}

func (h *harness) waitPhase(name string, p api.Phase) *api.LabInstanceRequest {
	h.t.Helper()
	return h.waitFor(name, "phase "+string(p), func(l *api.LabInstanceRequest) bool { return l != nil && l.Status.Phase == p })
}

func phases(l *api.LabInstanceRequest) string {
	var s []string
	for _, tr := range l.Status.Transitions {
		s = append(s, string(tr.From)+">"+string(tr.To))
	}
	return strings.Join(s, " ")
}

func TestLabRunsAndCompletes(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	h.create("serve", nil)
	l := h.waitPhase("serve", api.PhaseRunning)
	if l.Status.ContainerID == "" || l.Status.StartedAt == nil || l.Status.AccessURL != testAccessURL(l.Key()) || l.Status.Endpoint == "" {
		t.Fatalf("RUNNING without container facts: %+v", l.Status)
	}
	if r := l.Status.Transitions[len(l.Status.Transitions)-1]; r.Reason != "AppReady" {
		t.Fatalf("PROVISIONING -> RUNNING for %q, want AppReady (the app answers)", r.Reason)
	}
	// Admission reserved the requests (defaulted: 50m, and the 32Mi limit
	// where the default 256Mi request is above it), not the limits.
	if l.Status.ResourceAllocation["cpu"] != "50m" || l.Status.ResourceAllocation["memory"] != "32Mi" {
		t.Fatalf("allocation = %v", l.Status.ResourceAllocation)
	}
	if !l.Metadata.HasFinalizer(api.Finalizer) || l.Status.ObservedGeneration != l.Metadata.Generation {
		t.Fatalf("finalizer %v, observed_generation %d of %d", l.Metadata.Finalizers, l.Status.ObservedGeneration, l.Metadata.Generation)
	}
	// The lab is really served where the gateway would dial it (the
	// gateway's own tests go through the access URL).
	body := httpGet(t, "http://"+l.Status.Endpoint+"/")
	if !strings.Contains(body, "lab") {
		t.Fatalf("access_url served %q", body)
	}
	ctr, err := h.rt.Inspect(context.Background(), workload.Name(l.Metadata.UID))
	if err != nil || ctr.ID != l.Status.ContainerID || ctr.Labels[workload.LabelLeaderEpoch] == "" {
		t.Fatalf("container %+v, %v", ctr, err)
	}

	h.create("quick", func(l *api.LabInstanceRequest) {
		l.Spec.Environment = api.StringMap{"LAB_EXIT_AFTER": "1", "LAB_EXIT_CODE": "0"}
	})
	done := h.waitPhase("quick", api.PhaseCompleted)
	if got := phases(done); got != "PENDING>PROVISIONING PROVISIONING>RUNNING RUNNING>COMPLETED" {
		t.Fatalf("transitions = %s", got)
	}
	if done.Status.CompletedAt == nil || len(done.Status.ResourceAllocation) != 0 || done.Status.ErrorMessage != "" {
		t.Fatalf("completed status = %+v", done.Status)
	}
}

// testAccessURL stands for the gateway's URL of a lab.
func testAccessURL(k api.Key) string {
	return "https://labs.test/labs/" + k.Namespace + "/" + k.Name + "/"
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestLabExitFailure(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	h.create("crash", func(l *api.LabInstanceRequest) {
		l.Spec.Environment = api.StringMap{"LAB_EXIT_AFTER": "1", "LAB_EXIT_CODE": "3"}
	})
	l := h.waitPhase("crash", api.PhaseFailed)
	if !strings.Contains(l.Status.ErrorMessage, "code 3") {
		t.Fatalf("error_message = %q", l.Status.ErrorMessage)
	}
	if c := l.Condition(api.ConditionReady); c == nil || c.Status != api.ConditionFalse || c.Reason != "ContainerFailed" {
		t.Fatalf("Ready condition = %+v", c)
	}
}

func TestLabImageUnavailable(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	h.create("noimage", func(l *api.LabInstanceRequest) { l.Spec.LabTemplate = "labrm/does-not-exist:1.0" })
	l := h.waitPhase("noimage", api.PhaseFailed)
	if !strings.Contains(l.Status.ErrorMessage, "labrm/does-not-exist:1.0") || l.Status.ContainerID != "" {
		t.Fatalf("status = %+v", l.Status)
	}
}

func TestLabTimesOut(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	h.create("expire", func(l *api.LabInstanceRequest) { l.Spec.DurationMinutes = 1 })
	l := h.waitPhase("expire", api.PhaseRunning)
	h.clock.Advance(61 * time.Second)
	l = h.waitPhase("expire", api.PhaseCompleted)
	if got := phases(l); got != "PENDING>PROVISIONING PROVISIONING>RUNNING RUNNING>TIMEOUT TIMEOUT>COMPLETED" {
		t.Fatalf("transitions = %s", got)
	}
	// An ended lab keeps no container once its cleanup ran.
	h.waitNoContainer(l.Metadata.UID)
}

// waitNoContainer waits (bounded) until the lab uid's container is gone.
func (h *harness) waitNoContainer(uid string) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := h.rt.Inspect(context.Background(), workload.Name(uid))
		if errors.Is(err, workload.ErrNotFound) {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("container of lab %s still there after 30s (%v)", uid, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDurationChangeIsReconciled extends a running lab: the controller
// observes the new generation and keeps the lab running past the old end.
func TestDurationChangeIsReconciled(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	h.create("extend", func(l *api.LabInstanceRequest) { l.Spec.DurationMinutes = 1 })
	h.waitPhase("extend", api.PhaseRunning)
	l, err := h.db.UpdateLab(context.Background(), api.Key{Namespace: "default", Name: "extend"}, store.WriteOptions{}, func(x *api.LabInstanceRequest) error {
		x.Spec.DurationMinutes = 10
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h.waitFor("extend", "observed generation 2", func(x *api.LabInstanceRequest) bool { return x.Status.ObservedGeneration == l.Metadata.Generation })
	h.clock.Advance(2 * time.Minute)
	time.Sleep(time.Second) // several probe intervals: nothing may happen
	if got := h.waitPhase("extend", api.PhaseRunning); got.Status.Phase != api.PhaseRunning {
		t.Fatal("unreachable")
	}
	h.clock.Advance(9 * time.Minute)
	h.waitPhase("extend", api.PhaseCompleted)
}

func TestScheduledStart(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	at := h.clock.Now().Add(30 * time.Minute).UTC().Format(time.RFC3339)
	h.create("later", func(l *api.LabInstanceRequest) { l.Spec.ScheduledStartTime = at })
	l := h.waitFor("later", "waiting condition", func(l *api.LabInstanceRequest) bool {
		c := l.Condition(api.ConditionScheduled)
		return c != nil && c.Reason == "WaitingForStartTime"
	})
	if l.Status.Phase != api.PhasePending || !strings.Contains(l.Condition(api.ConditionScheduled).Message, at) {
		t.Fatalf("status = %+v", l.Status)
	}
	h.clock.Advance(31 * time.Minute)
	h.waitPhase("later", api.PhaseRunning)

	// Start now: the annotation the start route sets overrides the schedule.
	h.create("now", func(l *api.LabInstanceRequest) {
		l.Spec.ScheduledStartTime = h.clock.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	})
	h.waitFor("now", "waiting", func(l *api.LabInstanceRequest) bool { return l.Condition(api.ConditionScheduled) != nil })
	_, err := h.db.UpdateLab(context.Background(), api.Key{Namespace: "default", Name: "now"}, store.WriteOptions{}, func(x *api.LabInstanceRequest) error {
		x.Metadata.Annotations = api.StringMap{api.AnnotationStartRequested: "now"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	started := h.waitPhase("now", api.PhaseRunning)
	if _, still := started.Metadata.Annotations[api.AnnotationStartRequested]; still {
		t.Fatal("start annotation kept after starting")
	}
}

func TestCapacityQueueing(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *reconcile.Config) { c.Capacity = workload.Resources{MilliCPU: 200, MemoryBytes: 1 << 30} })
	guaranteed := func(l *api.LabInstanceRequest) {
		l.Spec.ResourceRequests = &api.ResourceRequests{CPU: "100m", Memory: "32Mi"}
	}
	h.create("a", guaranteed)
	h.waitPhase("a", api.PhaseRunning)
	h.create("b", guaranteed)
	h.waitPhase("b", api.PhaseRunning)
	h.create("c", guaranteed)
	c := h.waitFor("c", "capacity condition", func(l *api.LabInstanceRequest) bool {
		cond := l.Condition(api.ConditionScheduled)
		return cond != nil && cond.Reason == "InsufficientCapacity"
	})
	if c.Status.Phase != api.PhasePending {
		t.Fatalf("c = %s while the host is full", c.Status.Phase)
	}
	h.create("too-big", func(l *api.LabInstanceRequest) {
		l.Spec.ResourceLimits.CPU = "1"
		l.Spec.ResourceRequests = &api.ResourceRequests{CPU: "1", Memory: "32Mi"}
	})
	big := h.waitPhase("too-big", api.PhaseFailed)
	if !strings.Contains(big.Status.ErrorMessage, "host has only") {
		t.Fatalf("too-big error = %q", big.Status.ErrorMessage)
	}
	// Ending a lab frees its allocation: c starts.
	_, err := h.db.UpdateLab(context.Background(), api.Key{Namespace: "default", Name: "a"}, store.WriteOptions{}, func(x *api.LabInstanceRequest) error {
		x.Metadata.Annotations = api.StringMap{api.AnnotationStopRequested: "now"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	a := h.waitPhase("a", api.PhaseCompleted)
	if a.Status.Transitions[len(a.Status.Transitions)-1].Reason != "StoppedByUser" {
		t.Fatalf("a transitions = %s", phases(a))
	}
	h.waitPhase("c", api.PhaseRunning)
}

func TestDeleteRemovesContainer(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	created := h.create("gone", nil)
	l := h.waitPhase("gone", api.PhaseRunning)
	ctx := context.Background()
	if _, deleted, err := h.db.DeleteLab(ctx, l.Key(), store.WriteOptions{}); err != nil || deleted {
		t.Fatalf("delete: deleted=%v err=%v (want deletion pending on the finalizer)", deleted, err)
	}
	h.waitFor("gone", "row deleted", func(l *api.LabInstanceRequest) bool { return l == nil })
	if _, err := h.rt.Inspect(ctx, workload.Name(created.Metadata.UID)); !errors.Is(err, workload.ErrNotFound) {
		t.Fatalf("container after delete: %v", err)
	}
	hist, err := h.db.LabHistory(ctx, l.Key())
	if err != nil {
		t.Fatal(err)
	}
	var finalized, deletedEv bool
	for _, e := range hist.Items {
		finalized = finalized || e.Type == api.EventFinalized
		deletedEv = deletedEv || e.Type == api.EventDeleted
	}
	if !finalized || !deletedEv {
		t.Fatalf("history lacks finalized/deleted: %+v", hist.Items)
	}
	counters, _ := h.db.Counters(ctx)
	if counters["finalizers_completed"] != 1 {
		t.Fatalf("counters = %v", counters)
	}
}

// TestAdoptsContainerAfterCrash: an earlier leader created the container
// and crashed before recording it; the controller adopts that container
// instead of making a second one.
func TestAdoptsContainerAfterCrash(t *testing.T) {
	t.Parallel()
	img := servertest.Docker(t)
	db := servertest.OpenStore(t, servertest.Postgres)
	ctx := context.Background()
	rt, err := docker.New(docker.Config{PublishIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	// A first controller run admits the lab and creates its container...
	first := reconcile.New(reconcile.Config{Store: db, Engine: rt, Capacity: workload.Resources{MilliCPU: 1000, MemoryBytes: 1 << 30},
		ProbeInterval: 100 * time.Millisecond, Logger: logger(t)})
	lab, err := db.CreateLab(ctx, &api.LabInstanceRequest{Metadata: api.ObjectMeta{Name: "adopt", Namespace: "default"},
		Spec: api.Spec{LabTemplate: img, StudentEmail: "s@u.edu", DurationMinutes: 5, ResourceLimits: &api.ResourceLimits{CPU: "100m", Memory: "32Mi"}}})
	if err != nil {
		t.Fatal(err)
	}
	term, _ := db.StartTerm(ctx, "first")
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- first.Run(runCtx, term) }()
	name := workload.Name(lab.Metadata.UID)
	t.Cleanup(func() { rt.Remove(context.Background(), name) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := rt.Inspect(ctx, name); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("first controller never created the container")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	<-done
	// ...and "crashes". Make it look as if the container id was never
	// recorded: roll the lab back to PROVISIONING by hand.
	err = db.InTx(ctx, func(tx *store.Tx) error {
		l, err := tx.GetLab(ctx, lab.Key())
		if err != nil {
			return err
		}
		switch {
		case l.Status.Phase == api.PhasePending && len(l.Status.ResourceAllocation) > 0:
			return nil // admitted, its workload made and not yet recorded: the crash as it is
		case l.Status.Phase != api.PhaseRunning && l.Status.Phase != api.PhaseProvisioning:
			t.Fatalf("phase after first run: %s", l.Status.Phase)
		}
		return storetest.Exec(ctx, tx, `UPDATE lab_instances SET phase = 'PROVISIONING',
			object = jsonb_set(jsonb_set(object, '{status,phase}', '"PROVISIONING"'), '{status,container_id}', '""') WHERE uid = ?`, l.Metadata.UID)
	})
	if err != nil {
		t.Fatal(err)
	}
	before, err := rt.Inspect(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	second := reconcile.New(reconcile.Config{Store: db, Engine: rt, Capacity: workload.Resources{MilliCPU: 1000, MemoryBytes: 1 << 30}, Logger: logger(t)})
	term2, _ := db.StartTerm(ctx, "second")
	runCtx2, stop2 := context.WithCancel(ctx)
	defer func() { stop2(); <-done }()
	go func() { done <- second.Run(runCtx2, term2) }()
	deadline = time.Now().Add(60 * time.Second)
	for {
		l, err := db.GetLab(ctx, lab.Key())
		if err == nil && l.Status.Phase == api.PhaseRunning && l.Status.ContainerID != "" {
			if l.Status.ContainerID != before.ID {
				t.Fatalf("controller made a new container %s instead of adopting %s", l.Status.ContainerID, before.ID)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never RUNNING after restart: %+v %v", l, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOrphanGC(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *reconcile.Config) { c.GCGrace = time.Millisecond })
	kept := h.create("kept", nil)
	h.waitPhase("kept", api.PhaseRunning)
	ctx := context.Background()
	id, _ := h.db.InstallationID(ctx)
	orphan := "lab-orphan-" + strings.ReplaceAll(kept.Metadata.UID, "-", "")[:12]
	foreign := "lab-foreign-" + strings.ReplaceAll(kept.Metadata.UID, "-", "")[:12]
	mk := func(name, installation string) {
		_, err := h.rt.Ensure(ctx, workload.Spec{Name: name, Image: h.image, Limits: workload.Resources{MilliCPU: 100, MemoryBytes: 32 << 20},
			Labels: map[string]string{workload.LabelManagedBy: workload.ManagedBy, workload.LabelResourceUID: "no-such-uid",
				workload.LabelNamespace: "default", workload.LabelName: "no-such-lab", workload.LabelInstallation: installation, workload.LabelSpecHash: "x"}})
		h.ensuredOrCollected(name, err)
	}
	mk(orphan, id)
	mk(foreign, "another-installation")
	t.Cleanup(func() { h.rt.Remove(context.Background(), foreign) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := h.rt.Inspect(ctx, orphan)
		if errors.Is(err, workload.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("orphaned container never collected")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := h.rt.Inspect(ctx, workload.Name(kept.Metadata.UID)); err != nil {
		t.Fatalf("GC removed a live lab's container: %v", err)
	}
	if _, err := h.rt.Inspect(ctx, foreign); err != nil {
		t.Fatalf("GC removed another installation's container: %v", err)
	}
}

// ensuredOrCollected fails the test on err from making a workload the
// controller is meant to remove, unless the controller has already
// removed it: with a grace of a millisecond it can come between the
// engine's create and start ("marked for removal").
func (h *harness) ensuredOrCollected(name string, err error) {
	h.t.Helper()
	if err == nil {
		return
	}
	if _, ierr := h.rt.Inspect(context.Background(), name); errors.Is(ierr, workload.ErrNotFound) ||
		strings.Contains(err.Error(), "marked for removal") {
		return
	}
	h.t.Fatal(err)
}

// TestEndedLabWorkloadCollected: the resync skips labs that ended, so a
// workload an ended lab still has (its clean-up missed in a crash) is
// found by the garbage collector, which queues the lab: its clean-up
// removes it.
func TestEndedLabWorkloadCollected(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *reconcile.Config) { c.GCGrace = time.Millisecond })
	ctx := context.Background()
	l := h.create("ended", func(l *api.LabInstanceRequest) {
		l.Spec.ScheduledStartTime = time.Now().Add(time.Hour).UTC().Format(time.RFC3339) // stays PENDING
	})
	if _, err := h.db.UpdateLabWithRetry(ctx, l.Key(), store.WriteOptions{}, func(x *api.LabInstanceRequest) error {
		return x.Transition(api.PhaseFailed, "Test", "ended outside the controller", time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	// Let the controller handle the lab's events first: from then on
	// only the garbage collector can notice the workload made below.
	time.Sleep(time.Second)
	id, err := h.db.InstallationID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	name := workload.Name(l.Metadata.UID)
	if _, err := h.rt.Ensure(ctx, workload.Spec{Name: name, Image: h.image, Limits: workload.Resources{MilliCPU: 100, MemoryBytes: 32 << 20},
		Labels: map[string]string{workload.LabelManagedBy: workload.ManagedBy, workload.LabelResourceUID: l.Metadata.UID,
			workload.LabelNamespace: l.Metadata.Namespace, workload.LabelName: l.Metadata.Name, workload.LabelInstallation: id,
			workload.LabelSpecHash: "x"}}); err != nil {
		h.ensuredOrCollected(name, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := h.rt.Inspect(ctx, name); errors.Is(err, workload.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the workload of an ended lab was never cleaned up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got, err := h.db.GetLab(ctx, l.Key()); err != nil || got.Status.Phase != api.PhaseFailed {
		t.Fatalf("after clean-up: %+v, %v", got, err)
	}
}

// TestFencedControllerStops: once another term starts, the old
// controller's writes fail and it stops with api.EFENCED.
func TestFencedControllerStops(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	if _, err := h.db.StartTerm(context.Background(), "usurper"); err != nil {
		t.Fatal(err)
	}
	h.create("after", nil) // the old controller tries to add its finalizer
	select {
	case err := <-h.done:
		if api.ErrorCode(err) != api.EFENCED {
			t.Fatalf("Run returned %v, want fenced", err)
		}
		h.done <- err // for Cleanup
	case <-time.After(30 * time.Second):
		t.Fatal("fenced controller kept running")
	}
	l, err := h.db.GetLab(context.Background(), api.Key{Namespace: "default", Name: "after"})
	if err != nil || len(l.Metadata.Finalizers) != 0 || l.Status.Phase != api.PhasePending {
		t.Fatalf("deposed controller wrote: %+v %v", l, err)
	}
}
