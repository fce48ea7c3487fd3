package main

// labd on kubernetes when the cluster's parts fail under it: a node lost,
// pods left behind. The labd-level tests of the runtime's own features are
// in kube_test.go.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/kubernetes"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// TestKubernetesNodeLost: labs on a node whose kubelet stops reporting
// FAIL with a node-lost reason within --kubernetes-node-lost-timeout of
// the node turning Unknown (plus a few seconds of reconciling), their pods
// are removed, and when the node comes back nothing of theirs is left on
// it. The node is a ghost (kubetest.Ghost): the real node's kubelet
// serves every other test, so stopping it is out of the question; the
// ghost turns Unknown exactly as the node lifecycle controller marks a
// node whose kubelet stopped. Labs go there by a node selector and a
// toleration of its taint, so they stay PROVISIONING on it (no kubelet
// starts them) until it is lost.
func TestKubernetesNodeLost(t *testing.T) {
	t.Parallel()
	const bound = 3 * time.Second
	rt := newRuntime(t, "kubernetes")
	c, ns := rt.cluster, rt.namespace
	pool := "labrm.io/pool"
	ghost := c.Ghost(t, map[string]string{pool: ns}, "2", "2Gi")
	dbURL := servertest.PostgresURL(t)
	rt.removeWorkloads(t, dbURL)
	p := kubeLabd(t, "kube-lost", dbURL, c, ns, "--kubernetes-node-selector="+pool+"="+ns,
		"--kubernetes-tolerations="+ghost.TaintKey+":NoSchedule", fmt.Sprintf("--kubernetes-node-lost-timeout=%s", bound))
	ctx := context.Background()
	names := []string{"lost-1", "lost-2"}
	for _, name := range names {
		if _, err := p.cl.Create(ctx, &api.LabInstanceRequest{Metadata: api.ObjectMeta{Name: name, Namespace: "default"},
			Spec: api.Spec{LabTemplate: rt.image, StudentEmail: "s@u.edu", DurationMinutes: 30, Port: 8080,
				ResourceLimits: &api.ResourceLimits{CPU: "100m", Memory: "32Mi"}}}); err != nil {
			t.Fatal(err)
		}
		waitPhase(t, p.cl, name, api.PhaseProvisioning, time.Minute)
	}
	for _, w := range rt.workloads(t, dbURL) {
		if w.State != workload.Pending || w.Unplaced {
			t.Fatalf("workload %+v: want bound to the ghost, pending", w)
		}
	}

	lostAt := ghost.SetReady(t, false)
	for _, name := range names {
		l := waitPhase(t, p.cl, name, api.PhaseFailed, bound+30*time.Second)
		tr := l.Status.Transitions[len(l.Status.Transitions)-1]
		failedAt := tr.At
		t.Logf("%s FAILED %s after the node turned Unknown (bound %s): %s: %s", name, failedAt.Sub(lostAt).Round(time.Millisecond), bound, tr.Reason, l.Status.ErrorMessage)
		if tr.Reason != "NodeLost" || !strings.Contains(l.Status.ErrorMessage, "node "+ghost.Name) ||
			!strings.Contains(l.Status.ErrorMessage, "kubelet stopped reporting") {
			t.Errorf("%s: %s %q, want NodeLost naming the node", name, tr.Reason, l.Status.ErrorMessage)
		}
		if early := failedAt.Sub(lostAt); early < bound-time.Second {
			t.Errorf("%s failed %s after the node was lost, before the bound %s", name, early, bound)
		}
		if late := failedAt.Sub(lostAt.Add(bound)); late > 10*time.Second {
			t.Errorf("%s failed %s after the bound", name, late)
		}
	}
	servertest.Eventually(t, "the lost labs' pods removed", 30*time.Second, func() bool { return len(rt.list(t)) == 0 })

	// The kubelet is back: nothing of the lost labs reappears.
	ghost.SetReady(t, true)
	time.Sleep(3 * time.Second)
	if left := rt.list(t); len(left) != 0 {
		t.Fatalf("pods after the node came back: %+v", left)
	}
	for _, name := range names {
		if l, err := p.cl.Get(ctx, api.Key{Namespace: "default", Name: name}); err != nil || l.Status.Phase != api.PhaseFailed {
			t.Fatalf("%s after the node came back: %+v, %v", name, l.Status, err)
		}
	}
}

// TestKubernetesGarbageCollection: labd, with its default garbage
// collector (a sweep a minute, orphans older than two minutes), removes a
// pod of its own installation whose lab does not exist, and leaves alone
// another installation's pod in the same namespace and the pod of a lab
// it has. The orphans are made before labd starts, so that the second
// sweep finds them old enough: the test takes about two minutes.
func TestKubernetesGarbageCollection(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, "kubernetes")
	c, ns := rt.cluster, rt.namespace
	dbURL := servertest.PostgresURL(t)
	rt.removeWorkloads(t, dbURL)
	inst := installationID(t, dbURL)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e, err := kubernetes.New(ctx, kubernetes.Config{RESTConfig: c.Config, Namespace: ns, Installation: inst,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	podOf := func(installation string) string {
		uid := uuid.NewString()
		spec := workload.Spec{Name: workload.Name(uid), Image: rt.image, Port: 8080, StopTimeout: time.Second,
			Limits: workload.Resources{MilliCPU: 20, MemoryBytes: 32 << 20},
			Labels: map[string]string{workload.LabelManagedBy: workload.ManagedBy, workload.LabelResourceUID: uid,
				workload.LabelNamespace: "default", workload.LabelName: "gone-" + uid[:8], workload.LabelLeaderEpoch: "1",
				workload.LabelInstallation: installation, workload.LabelSpecHash: "h1"}}
		if _, err := e.Ensure(ctx, spec); err != nil {
			t.Fatalf("make a pod of installation %s: %v", installation, err)
		}
		t.Cleanup(func() { e.Remove(context.Background(), spec.Name) })
		return spec.Name
	}
	orphan, foreign := podOf(inst), podOf("another-installation")
	p := kubeLabd(t, "kube-gc", dbURL, c, ns)
	kept := createRunning(t, p.cl, "kept", rt.image)

	took := servertest.Eventually(t, "the orphan to be collected", 4*time.Minute, func() bool {
		_, err := e.Inspect(ctx, orphan)
		return errors.Is(err, workload.ErrNotFound)
	})
	t.Logf("orphan collected %s after labd started", took.Round(time.Second))
	if !strings.Contains(p.log(), `"msg":"removing orphaned workload"`) {
		t.Errorf("labd did not log the orphan's removal")
	}
	if _, err := e.Inspect(ctx, foreign); err != nil {
		t.Fatalf("another installation's pod: %v", err)
	}
	if w := workloadOf(t, rt, dbURL, kept.Metadata.UID); w.State != workload.Running {
		t.Fatalf("the lab's own pod: %+v", w)
	}
}
