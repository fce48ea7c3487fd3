package kubernetes_test

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/labrm/terraform-provider-lab/server/kubernetes"
	"github.com/labrm/terraform-provider-lab/server/reconcile"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/servertest/kubetest"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// TestAdoptionByARestartedEngine: a second engine (labd restarted) adopts
// the running pod, the same pod with the same container, not restarted;
// a changed spec replaces it; concurrent Ensures make one pod.
func TestAdoptionByARestartedEngine(t *testing.T) {
	ev := newEnv(t, nil)
	ctx := ctxT(t, 2*time.Minute)
	spec := ev.spec(nil)
	ev.ensure(t, spec)
	first := ev.waitStatus(t, spec.Name, "ready", time.Minute, func(s workload.Status) bool { return s.Readiness == workload.Ready })
	before := ev.pod(t, spec.Name)
	if err := ev.e.Close(); err != nil {
		t.Fatal(err)
	}

	restarted := ev.engine(t, nil)
	spec.Labels[workload.LabelLeaderEpoch] = "2" // a new leader's term: still the same lab
	st, err := restarted.Ensure(ctx, spec)
	if err != nil {
		t.Fatalf("Ensure by the restarted engine: %v", err)
	}
	after := ev.pod(t, spec.Name)
	if st.ID != first.ID || !st.StartedAt.Equal(first.StartedAt) || st.State != workload.Running || st.Readiness != workload.Ready {
		t.Fatalf("adopted %+v, want the running pod %s started at %s", st, first.ID, first.StartedAt)
	}
	if after.UID != before.UID || after.Status.ContainerStatuses[0].ContainerID != before.Status.ContainerStatuses[0].ContainerID ||
		after.Status.ContainerStatuses[0].RestartCount != 0 || after.Labels[kubernetes.LabelPrefix+workload.LabelLeaderEpoch] != "1" {
		t.Fatalf("the pod changed on adoption: %s %v -> %s %v", before.UID, before.Status.ContainerStatuses, after.UID, after.Status.ContainerStatuses)
	}

	// Another spec (an upgraded labd that hashes differently): replaced.
	spec.Labels[workload.LabelSpecHash] = "h2"
	start := time.Now()
	st, err = restarted.Ensure(ctx, spec)
	if err != nil {
		t.Fatalf("Ensure with another spec hash: %v", err)
	}
	if st.ID == first.ID || st.Labels[workload.LabelSpecHash] != "h2" {
		t.Fatalf("not replaced: %+v", st)
	}
	t.Logf("replaced in %s (grace 2s)", time.Since(start).Round(time.Millisecond))

	// Racing Ensures of a new lab: one pod, adopted by all.
	racing := ev.spec(nil)
	t.Cleanup(func() { restarted.Remove(context.Background(), racing.Name) })
	ids := make([]string, 4)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			st, err := restarted.Ensure(ctx, racing)
			if err != nil {
				t.Errorf("racing Ensure %d: %v", i, err)
			}
			ids[i] = st.ID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id == "" || id != ids[0] {
			t.Fatalf("racing Ensures returned pods %v, want one", ids)
		}
	}
}

// TestGarbageCollection: the controller's garbage collector, on this
// engine, removes a pod of its own installation whose lab does not exist
// and leaves another installation's pod alone.
func TestGarbageCollection(t *testing.T) {
	c := kubetest.Connect(t)
	t.Parallel()
	db := servertest.OpenStore(t, servertest.SQLite)
	ctx := ctxT(t, 2*time.Minute)
	inst, err := db.InstallationID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ev := &env{c: c, ns: c.Namespace(t), inst: inst}
	ev.e = ev.engine(t, nil)
	orphan := ev.spec(map[string]string{"LAB_EXIT_AFTER": "0"})
	ev.ensure(t, orphan)
	foreign := ev.spec(map[string]string{"LAB_EXIT_AFTER": "0"})
	foreign.Labels[workload.LabelInstallation] = "another-installation"
	ev.ensure(t, foreign)

	// List reads the cache, which sees new pods a moment after Ensure.
	var all []workload.Status
	servertest.Eventually(t, "both pods listed", 10*time.Second, func() bool {
		var err error
		all, err = ev.e.List(ctx)
		return err == nil && len(all) == 2
	})
	listed := map[string]workload.Status{}
	for _, w := range all {
		listed[w.Name] = w
	}
	if len(all) != 2 || !workload.Ours(listed[orphan.Name].Labels, inst) || workload.Ours(listed[foreign.Name].Labels, inst) ||
		listed[foreign.Name].Labels[workload.LabelInstallation] != "another-installation" {
		t.Fatalf("List = %+v, want both pods with their installations", all)
	}

	ctrl := reconcile.New(reconcile.Config{
		Store: db, Engine: ev.e, GCInterval: 100 * time.Millisecond, GCGrace: time.Nanosecond,
		Logger: slog.New(slog.DiscardHandler),
	})
	term, err := db.StartTerm(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(runCtx, term) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
	}()
	took := servertest.Eventually(t, "the orphan to be collected", time.Minute, func() bool {
		_, err := ev.e.Inspect(ctx, orphan.Name)
		return notFound(err)
	})
	t.Logf("orphan collected in %s", took.Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond) // a few more sweeps
	if _, err := ev.e.Inspect(ctx, foreign.Name); err != nil {
		t.Fatalf("another installation's pod: %v", err)
	}
}

// TestCapacity: the allocatable of the usable nodes, watched: a node
// tainted for labs counts once labs tolerate its taint, a node selector
// narrows it, a node that goes away stops counting.
func TestCapacity(t *testing.T) {
	ev := newEnv(t, nil)
	c := ev.c
	ghost := ghostNode(t, c, corev1.ConditionTrue, time.Now(), "64", "1Mi")
	ctx := ctxT(t, time.Minute)
	node, err := c.Client.CoreV1().Nodes().Get(ctx, c.Node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := allocatable(node)
	if want.MilliCPU <= 0 || want.MemoryBytes <= 0 {
		t.Fatalf("the node allocates %+v", want)
	}
	if got, err := ev.e.Capacity(ctx); err != nil || got != want {
		t.Fatalf("Capacity = %+v, %v; want the one usable node's %+v (the ghost is tainted)", got, err, want)
	}
	if got, err := ev.e.Largest(ctx); err != nil || got != want {
		t.Fatalf("Largest = %+v, %v; want %+v", got, err, want)
	}

	tolerant := ev.engine(t, func(cfg *kubernetes.Config) {
		cfg.Tolerations = []corev1.Toleration{{Key: "labrm.io/ghost", Operator: corev1.TolerationOpExists}}
	})
	g := allocatable(ghost)
	sum := workload.Resources{MilliCPU: want.MilliCPU + g.MilliCPU, MemoryBytes: want.MemoryBytes + g.MemoryBytes}
	// The node lifecycle controller taints a new node not-ready until it
	// has seen it Ready: the scheduler would not place labs there yet.
	var got workload.Resources
	for deadline := time.Now().Add(20 * time.Second); got != sum; time.Sleep(20 * time.Millisecond) {
		if got, err = tolerant.Capacity(ctx); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			n, _ := c.Client.CoreV1().Nodes().Get(ctx, ghost.Name, metav1.GetOptions{})
			t.Fatalf("Capacity tolerating the ghost = %+v; want %+v (ghost taints %v, conditions %v)", got, sum, n.Spec.Taints, n.Status.Conditions)
		}
	}
	most := workload.Resources{MilliCPU: g.MilliCPU, MemoryBytes: want.MemoryBytes}
	if got, err := tolerant.Largest(ctx); err != nil || got != most {
		t.Fatalf("Largest = %+v, %v; want the most CPU of one node and the most memory of one node, %+v", got, err, most)
	}
	selective := ev.engine(t, func(cfg *kubernetes.Config) { cfg.NodeSelector = map[string]string{"labrm.io/no-such-pool": "x"} })
	if got, err := selective.Capacity(ctx); err != nil || got != (workload.Resources{}) {
		t.Fatalf("Capacity with a selector no node matches = %+v, %v", got, err)
	}

	if err := c.Client.CoreV1().Nodes().Delete(ctx, ghost.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Eventually(t, "the deleted node to stop counting", 10*time.Second, func() bool {
		got, err := tolerant.Capacity(ctx)
		return err == nil && got == want
	})
}

// TestNodeLost: a lab on a node that has not been Ready for the bound is
// reported Exited with a message naming the node, notified when the bound
// passes; Stop and Remove delete it at once, with no kubelet to confirm.
// The node is a ghost (no kubelet): the real node is shared and stays up.
func TestNodeLost(t *testing.T) {
	const bound = 3 * time.Second
	ev := newEnv(t, func(cfg *kubernetes.Config) { cfg.NodeLostTimeout = bound })
	c := ev.c
	since := time.Now().Truncate(time.Second) // node conditions keep whole seconds
	ghost := ghostNode(t, c, corev1.ConditionFalse, since, "4", "4Gi")
	ctx := ctxT(t, time.Minute)
	var names []string
	for range 2 {
		spec := ev.spec(nil)
		p, err := kubernetes.PodFor(ev.e, spec)
		if err != nil {
			t.Fatal(err)
		}
		p.Spec.NodeName = ghost.Name // bound by hand: the scheduler would not
		if _, err := c.Client.CoreV1().Pods(ev.ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			c.Client.CoreV1().Pods(ev.ns).Delete(context.Background(), p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))})
		})
		names = append(names, spec.Name)
	}
	lostAt := since.Add(bound)
	for _, name := range names {
		asked := time.Now()
		if st := ev.waitStatus(t, name, "seen", 10*time.Second, func(workload.Status) bool { return true }); st.State != workload.Pending && asked.Before(lostAt) {
			t.Fatalf("%s before the bound: %+v, want Pending", name, st)
		}
	}
	var notified time.Time
	for deadline := lostAt.Add(10 * time.Second); notified.IsZero() && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		notified = ev.rec.since(names[0], lostAt)
	}
	if notified.IsZero() {
		t.Fatal("no change notified when the node had been lost for the bound")
	}
	t.Logf("node lost at %s + %s; notified %s after", since.Format(time.TimeOnly), bound, notified.Sub(lostAt).Round(time.Millisecond))
	if late := notified.Sub(lostAt); late > 2*time.Second {
		t.Errorf("notified %s after the bound", late)
	}
	st, err := ev.e.Inspect(ctx, names[0])
	if err != nil || st.State != workload.Exited || st.Reason != kubernetes.ReasonNodeLost || st.ExitCode != -1 ||
		!strings.Contains(st.Message, "node "+ghost.Name+" has been NotReady") {
		t.Fatalf("lab on the lost node: %+v, %v", st, err)
	}
	// Its output is on the lost node: none, at once (the controller's
	// clean-up reads it before removing the pod).
	start := time.Now()
	if logs, err := ev.e.Logs(ctx, names[0], 0); err != nil || logs != "" || time.Since(start) > time.Second {
		t.Fatalf("Logs of a lab on the lost node = %q, %v after %s; want none at once", logs, err, time.Since(start))
	}
	for i, op := range []func(string) error{
		func(n string) error { return ev.e.Stop(ctx, n, time.Second) },
		func(n string) error { return ev.e.Remove(ctx, n) },
	} {
		start := time.Now()
		if err := op(names[i]); err != nil {
			t.Fatalf("Stop/Remove %d of a lab on a lost node: %v", i, err)
		}
		if _, err := ev.e.Inspect(ctx, names[i]); !notFound(err) || time.Since(start) > 5*time.Second {
			t.Fatalf("after Stop/Remove %d (%s): %v, want gone at once", i, time.Since(start), err)
		}
	}
}

// TestNetworkPolicy: the policy is created as documented, applied again
// without change, and repaired when someone edits it. (The test cluster's
// bridge network does not enforce it.)
func TestNetworkPolicy(t *testing.T) {
	ev := newEnv(t, func(cfg *kubernetes.Config) { cfg.LabdNamespace = "labd-home" })
	ctx := ctxT(t, 30*time.Second)
	policies := ev.c.Client.NetworkingV1().NetworkPolicies(ev.ns)
	if err := ev.e.EnsureNetworkPolicy(ctx); err != nil {
		t.Fatal(err)
	}
	check := func(what string) *networkingv1.NetworkPolicy {
		t.Helper()
		p, err := policies.Get(ctx, kubernetes.PolicyName(ev.inst), metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		labs := map[string]string{kubernetes.LabelPrefix + "managed-by": "labd", kubernetes.LabelPrefix + "installation": ev.inst}
		s := p.Spec
		if !maps.Equal(s.PodSelector.MatchLabels, labs) || len(s.PodSelector.MatchExpressions) != 0 ||
			len(s.PolicyTypes) != 1 || s.PolicyTypes[0] != networkingv1.PolicyTypeIngress || len(s.Egress) != 0 {
			t.Fatalf("%s: policy spec %+v", what, s)
		}
		if len(s.Ingress) != 1 || len(s.Ingress[0].From) != 1 || len(s.Ingress[0].Ports) != 0 {
			t.Fatalf("%s: ingress %+v, want one rule from one peer, any port", what, s.Ingress)
		}
		from := s.Ingress[0].From[0]
		if from.NamespaceSelector == nil || !maps.Equal(from.NamespaceSelector.MatchLabels, map[string]string{"kubernetes.io/metadata.name": "labd-home"}) ||
			from.PodSelector == nil || !maps.Equal(from.PodSelector.MatchLabels, kubernetes.DefaultLabdPodLabels) || from.IPBlock != nil {
			t.Fatalf("%s: peer %+v, want labd's pods in labd-home", what, from)
		}
		return p
	}
	first := check("created")
	if err := ev.e.EnsureNetworkPolicy(ctx); err != nil {
		t.Fatal(err)
	}
	if again := check("applied again"); again.ResourceVersion != first.ResourceVersion {
		t.Errorf("applying the same policy changed it: version %s -> %s", first.ResourceVersion, again.ResourceVersion)
	}
	// Someone opens the labs to everyone.
	edited := first.DeepCopy()
	edited.Spec.Ingress = append(edited.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{})
	if _, err := policies.Update(ctx, edited, metav1.UpdateOptions{FieldManager: "someone"}); err != nil {
		t.Fatal(err)
	}
	if err := ev.e.EnsureNetworkPolicy(ctx); err != nil {
		t.Fatal(err)
	}
	check("repaired")
}

// TestWorkspace: a student's claim is made with the storage class and
// size, labelled like Docker's workspace volumes (the e-mail address in an
// annotation), bound by the cluster to the test's volume, kept as it is
// when ensured again, and refused when another installation owns it.
func TestWorkspace(t *testing.T) {
	c := kubetest.Connect(t)
	class, _ := c.Volume(t, "64Mi")
	ev := newEnv(t, func(cfg *kubernetes.Config) { cfg.StorageClass, cfg.WorkspaceSize = class, "64Mi" })
	ctx := ctxT(t, time.Minute)
	name := "ws-" + randHex(12)
	labels := map[string]string{
		workload.LabelManagedBy:    workload.ManagedBy,
		workload.LabelInstallation: ev.inst,
		"kind":                     "workspace",
		workload.LabelNamespace:    "default",
		"student":                  "ada.lovelace@uni.edu",
	}
	if err := ev.e.EnsureWorkspace(ctx, name, labels); err != nil {
		t.Fatal(err)
	}
	claims := c.Client.CoreV1().PersistentVolumeClaims(ev.ns)
	pvc, err := claims.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != class ||
		!pvc.Spec.Resources.Requests.Storage().Equal(resource.MustParse("64Mi")) ||
		len(pvc.Spec.AccessModes) != 1 || pvc.Spec.AccessModes[0] != corev1.ReadWriteOnce {
		t.Fatalf("claim spec %+v", pvc.Spec)
	}
	if pvc.Labels[kubernetes.LabelPrefix+"kind"] != "workspace" || pvc.Labels[kubernetes.LabelPrefix+"installation"] != ev.inst ||
		pvc.Annotations[kubernetes.LabelPrefix+"student"] != "ada.lovelace@uni.edu" {
		t.Fatalf("claim labels %v, annotations %v", pvc.Labels, pvc.Annotations)
	}
	bound, err := kubetest.WaitFor(ctx, c.Client.CoreV1().RESTClient(), "persistentvolumeclaims", ev.ns, name, &corev1.PersistentVolumeClaim{},
		func(p *corev1.PersistentVolumeClaim) (bool, error) {
			return p != nil && p.Status.Phase == corev1.ClaimBound, nil
		})
	if err != nil || bound.Spec.VolumeName != class {
		t.Fatalf("claim not bound to the test's volume %s: %v", class, err)
	}
	if err := ev.e.EnsureWorkspace(ctx, name, labels); err != nil {
		t.Fatal(err)
	}
	if again, err := claims.Get(ctx, name, metav1.GetOptions{}); err != nil || again.UID != pvc.UID {
		t.Fatalf("ensured again: %v, %v; want the same claim", again.UID, err)
	}
	other := ev.engine(t, func(cfg *kubernetes.Config) { cfg.Installation = "another-installation" })
	err = other.EnsureWorkspace(ctx, name, labels)
	if err == nil || !strings.Contains(err.Error(), "not this installation's") {
		t.Fatalf("another installation's EnsureWorkspace = %v, want a refusal", err)
	}
	if errors.Is(err, workload.ErrNotFound) {
		t.Fatal("refusal is ErrNotFound")
	}
}
