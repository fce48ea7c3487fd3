package kubernetes_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/labrm/terraform-provider-lab/server/kubernetes"
	"github.com/labrm/terraform-provider-lab/server/reconcile"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/servertest/kubetest"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// The engine is what the controller needs.
var _ reconcile.Engine = (*kubernetes.Engine)(nil)

// small is what a test lab asks for: the node is shared by every test.
var small = workload.Resources{MilliCPU: 20, MemoryBytes: 32 << 20}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// env is one test's cluster, namespace and engine.
type env struct {
	c    *kubetest.Cluster
	ns   string
	inst string
	e    *kubernetes.Engine
	rec  *recorder
}

// newEnv connects to the test cluster, makes the test a namespace and an
// engine for it (images never pulled: nothing can be), and records what
// the engine says changed. mutate adjusts the engine's configuration.
func newEnv(t *testing.T, mutate func(*kubernetes.Config)) *env {
	t.Helper()
	c := kubetest.Connect(t)
	t.Parallel()
	ev := &env{c: c, ns: c.Namespace(t), inst: "inst-" + randHex(4)}
	ev.e = ev.engine(t, mutate)
	return ev
}

// engine makes another engine on the env's namespace (a restarted labd).
func (ev *env) engine(t *testing.T, mutate func(*kubernetes.Config)) *kubernetes.Engine {
	t.Helper()
	logs := &servertest.LogBuffer{}
	cfg := kubernetes.Config{
		RESTConfig:      ev.c.Config,
		Namespace:       ev.ns,
		Installation:    ev.inst,
		ImagePullPolicy: corev1.PullNever,
		Logger:          slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	e, err := kubernetes.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("kubernetes.New: %v", err)
	}
	rec := &recorder{}
	go rec.read(e.Events())
	if ev.rec == nil {
		ev.rec = rec
	}
	t.Cleanup(func() {
		e.Close()
		if t.Failed() {
			t.Logf("engine log:\n%s", logs.String())
		}
	})
	if err := e.WaitSynced(ctxT(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	return e
}

// spec is a lab of the test image for this env's installation.
func (ev *env) spec(envVars map[string]string) workload.Spec {
	uid := uuid.NewString()
	return workload.Spec{
		Name:        workload.Name(uid),
		Image:       ev.c.Image,
		Env:         envVars,
		Limits:      small,
		StopTimeout: 2 * time.Second,
		Labels: map[string]string{
			workload.LabelManagedBy:    workload.ManagedBy,
			workload.LabelResourceUID:  uid,
			workload.LabelNamespace:    "default",
			workload.LabelName:         "lab-" + uid[:8],
			workload.LabelLeaderEpoch:  "1",
			workload.LabelInstallation: ev.inst,
			workload.LabelSpecHash:     "h1",
		},
	}
}

// ensure starts a lab and removes it when the test ends.
func (ev *env) ensure(t *testing.T, spec workload.Spec) workload.Status {
	t.Helper()
	st, err := ev.e.Ensure(ctxT(t, 30*time.Second), spec)
	if err != nil {
		t.Fatalf("Ensure %s: %v", spec.Name, err)
	}
	t.Cleanup(func() { ev.e.Remove(context.Background(), spec.Name) })
	return st
}

// waitStatus polls Inspect (the engine's cache, mostly) until cond holds
// and returns the status then; it fails the test with the last status
// seen after timeout.
func (ev *env) waitStatus(t *testing.T, name, what string, timeout time.Duration, cond func(workload.Status) bool) workload.Status {
	t.Helper()
	ctx := ctxT(t, timeout+10*time.Second)
	deadline := time.Now().Add(timeout)
	for {
		st, err := ev.e.Inspect(ctx, name)
		if err == nil && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s to be %s; last: %+v, %v", timeout, name, what, st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (ev *env) pod(t *testing.T, name string) *corev1.Pod {
	t.Helper()
	p, err := ev.c.Client.CoreV1().Pods(ev.ns).Get(ctxT(t, 10*time.Second), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pod %s: %v", name, err)
	}
	return p
}

func notFound(err error) bool { return errors.Is(err, workload.ErrNotFound) }

// recorder keeps what Events delivered, and when.
type recorder struct {
	mu   sync.Mutex
	seen []delivery
}

type delivery struct {
	name string
	at   time.Time
	ev   workload.Event
}

func (r *recorder) read(ch <-chan workload.Event) {
	for ev := range ch {
		r.mu.Lock()
		r.seen = append(r.seen, delivery{ev.Name, time.Now(), ev})
		r.mu.Unlock()
	}
}

// since is the first delivery of name at or after t, or the zero time.
func (r *recorder) since(name string, t time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range r.seen {
		if d.name == name && !d.at.Before(t) {
			return d.at
		}
	}
	return time.Time{}
}

// ghostNode registers a node no kubelet runs, tainted so that the
// scheduler places nothing on it, with the given readiness since when and
// allocatable resources; it is deleted when the test ends. It lets a test
// see a second node, or a lost one, without disturbing the real node that
// every test shares.
func ghostNode(t *testing.T, c *kubetest.Cluster, ready corev1.ConditionStatus, since time.Time, cpu, memory string) *corev1.Node {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "ghost-" + randHex(4), Labels: map[string]string{kubetest.LabelTest: "true"}},
		Spec:       corev1.NodeSpec{Taints: []corev1.Taint{{Key: "labrm.io/ghost", Effect: corev1.TaintEffectNoSchedule}}},
	}
	n, err := c.Client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create node: %v", err)
	}
	name := n.Name
	t.Cleanup(func() {
		err := c.Client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete node %s: %v", name, err)
		}
	})
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)}
	// The node lifecycle controller updates a new node too (its taints).
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Status = corev1.NodeStatus{
			Capacity: res, Allocatable: res,
			Conditions: []corev1.NodeCondition{{
				Type: corev1.NodeReady, Status: ready, Reason: "GhostNode", Message: "no kubelet runs this node",
				LastHeartbeatTime: metav1.NewTime(since), LastTransitionTime: metav1.NewTime(since),
			}},
		}
		n, err = c.Client.CoreV1().Nodes().UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("update node status: %v", err)
	}
	return n
}

func allocatable(n *corev1.Node) workload.Resources {
	return workload.Resources{MilliCPU: n.Status.Allocatable.Cpu().MilliValue(), MemoryBytes: n.Status.Allocatable.Memory().Value()}
}

// event is the first event of name delivered at or after t, and whether
// there was one.
func (r *recorder) event(name string, t time.Time) (workload.Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range r.seen {
		if d.name == name && !d.at.Before(t) {
			return d.ev, true
		}
	}
	return workload.Event{}, false
}
