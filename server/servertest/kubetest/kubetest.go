// Package kubetest gives tests the test environment's Kubernetes cluster: a
// real kube-apiserver, kube-controller-manager, kube-scheduler and kubelet
// on one node, which scripts/testenv.sh builds and starts and names in
// LAB_TEST_KUBECONFIG (an admin kubeconfig). Each test works in a namespace
// of its own, deleted when it ends.
//
// Like servertest's other services, a missing or broken cluster skips the
// test, or fails it when CI=true.
//
// The one node is shared by every test of every package, and `go test
// ./...` runs packages at once: a test must not disturb the node (stop its
// kubelet, fill it up) while others may be using it.
//
// It is a package of its own, not part of servertest, so that only the
// tests that use Kubernetes link client-go and every Kubernetes API group
// its scheme registers.
package kubetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/client-go/util/retry"

	"github.com/labrm/terraform-provider-lab/server/servertest"
)

// EnvKubeconfig names the environment variable with the path of the test
// cluster's admin kubeconfig.
const EnvKubeconfig = "LAB_TEST_KUBECONFIG"

// LabelTest marks the namespaces that Namespace creates, so that ones left
// behind by a killed test run can be found.
const LabelTest = "labrm.io/test"

// Cluster is the test cluster as a test sees it.
type Cluster struct {
	// Kubeconfig is the admin kubeconfig's path, for code under test that
	// takes a --kubeconfig.
	Kubeconfig string
	// Config and Client act as the cluster admin.
	Config *rest.Config
	Client kubernetes.Interface
	// Node is the name of the cluster's one node: Ready and schedulable.
	Node string
	// Image is the test image (servertest.EnvTestImage; busybox httpd on
	// 8080 by default), present in the node's containerd: pods use it with
	// imagePullPolicy Never, since no registry is reachable.
	Image string
}

// Connect returns the test cluster after checking that its API server
// answers, that a node is Ready and schedulable and that the node holds the
// test image.
func Connect(t testing.TB) *Cluster {
	t.Helper()
	path := os.Getenv(EnvKubeconfig)
	if path == "" {
		servertest.Unavailable(t, "Kubernetes", "%s is not set", EnvKubeconfig)
	}
	img := os.Getenv(servertest.EnvTestImage)
	if img == "" {
		servertest.Unavailable(t, "Kubernetes", "%s is not set", servertest.EnvTestImage)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		servertest.Unavailable(t, "Kubernetes", "load %s: %v", path, err)
	}
	// Tests create and watch many objects at once; client-go's default of
	// 5 requests a second would make them wait on the client, not the cluster.
	cfg.QPS, cfg.Burst = 100, 200
	cfg.Timeout = 30 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("kubernetes client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		servertest.Unavailable(t, "Kubernetes", "list nodes at %s: %v", cfg.Host, err)
	}
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if nodeUsable(n) && nodeHasImage(n, img) {
			return &Cluster{Kubeconfig: path, Config: cfg, Client: cs, Node: n.Name, Image: img}
		}
	}
	servertest.Unavailable(t, "Kubernetes", "no Ready, schedulable node with image %s among %d nodes at %s",
		img, len(nodes.Items), cfg.Host)
	return nil
}

func nodeUsable(n *corev1.Node) bool {
	if n.Spec.Unschedulable {
		return false
	}
	for _, taint := range n.Spec.Taints {
		if taint.Effect == corev1.TaintEffectNoSchedule || taint.Effect == corev1.TaintEffectNoExecute {
			return false
		}
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// nodeHasImage reports whether the kubelet lists img among the node's
// images; containerd names a Docker Hub-style image in full
// (docker.io/labrm/busybox:test).
func nodeHasImage(n *corev1.Node, img string) bool {
	for _, i := range n.Status.Images {
		for _, name := range i.Names {
			if name == img || name == "docker.io/"+img || name == "docker.io/library/"+img {
				return true
			}
		}
	}
	return false
}

// Namespace creates a namespace for this test, named after it, and deletes
// it (with everything in it) when the test ends. It returns once pods can be
// created there: the controller-manager has given it its default
// ServiceAccount (the admission plugin rejects pods without it) and the
// kube-root-ca.crt ConfigMap (the kubelet cannot start pods without it).
func (c *Cluster) Namespace(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   namespaceName(t.Name()),
		Labels: map[string]string{LabelTest: "true"},
	}}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", ns.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// The namespace controller deletes its contents in the background.
		err := c.Client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
		if err != nil {
			t.Errorf("delete namespace %s: %v", ns.Name, err)
		}
	})
	core := c.Client.CoreV1().RESTClient()
	if _, err := WaitFor(ctx, core, "serviceaccounts", ns.Name, "default", &corev1.ServiceAccount{}, Exists); err != nil {
		t.Fatalf("namespace %s: wait for its default ServiceAccount: %v", ns.Name, err)
	}
	if _, err := WaitFor(ctx, core, "configmaps", ns.Name, "kube-root-ca.crt", &corev1.ConfigMap{}, Exists); err != nil {
		t.Fatalf("namespace %s: wait for its kube-root-ca.crt ConfigMap: %v", ns.Name, err)
	}
	return ns.Name
}

// Volume makes storage for a claim of this test: a StorageClass of its own
// (no provisioner) and one PersistentVolume in it of the given size, backed
// by a fresh directory on the node (hostPath: the node is this machine),
// all removed when the test ends. The controller-manager binds a claim of
// that class to the volume. It returns the class and the directory.
func (c *Cluster) Volume(t testing.TB, size string) (class, dir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	qty, err := resource.ParseQuantity(size)
	if err != nil {
		t.Fatalf("volume size %q: %v", size, err)
	}
	dir = t.TempDir()
	// Open to any user: a lab may run as one that is not root.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatalf("chmod %s: %v", dir, err)
	}
	name := namespaceName(t.Name())
	sc := &storagev1.StorageClass{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Labels: map[string]string{LabelTest: "true"}},
		Provisioner: "kubernetes.io/no-provisioner",
	}
	if _, err := c.Client.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create storage class: %v", err)
	}
	hostPathType := corev1.HostPathDirectory
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{LabelTest: "true"}},
		Spec: corev1.PersistentVolumeSpec{
			StorageClassName:              name,
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: qty},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &hostPathType},
			},
		},
	}
	if _, err := c.Client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create persistent volume: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Client.CoreV1().PersistentVolumes().Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete persistent volume %s: %v", name, err)
		}
		if err := c.Client.StorageV1().StorageClasses().Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete storage class %s: %v", name, err)
		}
	})
	return name, dir
}

var notName = regexp.MustCompile(`[^a-z0-9]+`)

// namespaceName makes a valid, unique namespace name (a DNS label) from a
// test's name.
func namespaceName(test string) string {
	name := strings.Trim(notName.ReplaceAllString(strings.ToLower(test), "-"), "-")
	if len(name) > 48 {
		name = strings.TrimRight(name[:48], "-")
	}
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "t-" + name + "-" + hex.EncodeToString(b)
}

// Exists is a WaitFor condition: the object exists.
func Exists[T runtime.Object](obj T) (bool, error) { return !isNil(obj), nil }

// Gone is a WaitFor condition: the object does not exist (any more).
func Gone[T runtime.Object](obj T) (bool, error) { return isNil(obj), nil }

func isNil(obj runtime.Object) bool {
	v := reflect.ValueOf(obj)
	return !v.IsValid() || v.Kind() == reflect.Pointer && v.IsNil()
}

// WaitFor watches one named object of a resource that client serves (e.g.
// CoreV1().RESTClient() with "pods") until cond holds for it, and returns
// it then. A nil object tells cond that it does not exist (or was
// deleted), so that a test can wait for an object to go away. It watches,
// rather than polls, and returns ctx's error when ctx ends first.
func WaitFor[T runtime.Object](ctx context.Context, client cache.Getter, resource, namespace, name string, obj T, cond func(T) (bool, error)) (T, error) {
	var zero, last T
	lw := cache.NewListWatchFromClient(client, resource, namespace, fields.OneTermEqualSelector("metadata.name", name))
	check := func(o T) (bool, error) {
		last = o
		return cond(o)
	}
	precondition := func(store cache.Store) (bool, error) {
		if items := store.List(); len(items) == 0 {
			return check(zero)
		}
		return false, nil
	}
	_, err := watchtools.UntilWithSync(ctx, lw, obj, precondition, func(ev watch.Event) (bool, error) {
		switch ev.Type {
		case watch.Deleted:
			return check(zero)
		case watch.Added, watch.Modified:
			o, ok := ev.Object.(T)
			if !ok {
				return false, fmt.Errorf("watch %s: got a %T, want a %T", resource, ev.Object, obj)
			}
			return check(o)
		}
		return false, nil
	})
	if err != nil {
		return last, fmt.Errorf("wait for %s %s/%s: %w", resource, namespace, name, err)
	}
	return last, nil
}

// Unrequested is what the scheduler still has to give on the cluster's
// node: its allocatable CPU (millicores) and memory (bytes) minus the
// requests of the pods bound to it that have not ended, whoever's they
// are. A test that must make the node look full to the scheduler asks for
// a share of this, leaving room for the tests that run beside it.
func (c *Cluster) Unrequested(t testing.TB) (milliCPU, memoryBytes int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	node, err := c.Client.CoreV1().Nodes().Get(ctx, c.Node, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get node %s: %v", c.Node, err)
	}
	milliCPU, memoryBytes = node.Status.Allocatable.Cpu().MilliValue(), node.Status.Allocatable.Memory().Value()
	pods, err := c.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + c.Node})
	if err != nil {
		t.Fatalf("list pods on %s: %v", c.Node, err)
	}
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, ctr := range p.Spec.Containers {
			milliCPU -= ctr.Resources.Requests.Cpu().MilliValue()
			memoryBytes -= ctr.Resources.Requests.Memory().Value()
		}
	}
	return milliCPU, memoryBytes
}

// Ghost is a node that no kubelet runs, registered by a test: the
// scheduler places pods on it (those that tolerate its taint), none ever
// starts, and the test says whether it is Ready, as the node lifecycle
// controller would say of a node whose kubelet stopped. It stands in for
// stopping the kubelet, which the tests share.
type Ghost struct {
	c *Cluster
	// Name is the node's name; TaintKey the key of its NoSchedule taint,
	// which only the test's pods tolerate.
	Name, TaintKey string
}

// Ghost registers a Ready ghost node with labels and the given allocatable
// CPU and memory (room for 20 pods), tainted with a key of its own so
// that only pods that tolerate it go there; it is deleted when the test
// ends. It returns once the node lifecycle controller has seen it Ready
// (it taints a new node not-ready until then).
func (c *Cluster) Ghost(t testing.TB, labels map[string]string, cpu, memory string) *Ghost {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	suffix := namespaceName(t.Name())
	suffix = suffix[len(suffix)-8:]
	g := &Ghost{c: c, Name: "ghost-" + suffix, TaintKey: "labrm.io/ghost-" + suffix}
	l := map[string]string{LabelTest: "true"}
	for k, v := range labels {
		l[k] = v
	}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: g.Name, Labels: l},
		Spec:       corev1.NodeSpec{Taints: []corev1.Taint{{Key: g.TaintKey, Effect: corev1.TaintEffectNoSchedule}}},
	}
	if _, err := c.Client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create node %s: %v", g.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Client.CoreV1().Nodes().Delete(ctx, g.Name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete node %s: %v", g.Name, err)
		}
	})
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory),
		corev1.ResourcePods: resource.MustParse("20")}
	g.setStatus(t, func(st *corev1.NodeStatus) { st.Capacity, st.Allocatable = res, res }, corev1.ConditionTrue)
	// The node lifecycle controller's not-ready taint goes once it has
	// seen the node Ready.
	if _, err := WaitFor(ctx, c.Client.CoreV1().RESTClient(), "nodes", "", g.Name, &corev1.Node{}, func(n *corev1.Node) (bool, error) {
		if n == nil {
			return false, nil
		}
		for _, taint := range n.Spec.Taints {
			if taint.Key == corev1.TaintNodeNotReady || taint.Key == corev1.TaintNodeUnreachable {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		t.Fatalf("ghost node %s: wait for the controller to see it Ready: %v", g.Name, err)
	}
	return g
}

// SetReady marks the ghost Ready, or Unknown as the node lifecycle
// controller marks a node whose kubelet stopped posting its status, from
// now on. It returns the time of the change (whole seconds, as the API
// server keeps it).
func (g *Ghost) SetReady(t testing.TB, ready bool) time.Time {
	t.Helper()
	status := corev1.ConditionUnknown
	if ready {
		status = corev1.ConditionTrue
	}
	return g.setStatus(t, nil, status)
}

func (g *Ghost) setStatus(t testing.TB, mutate func(*corev1.NodeStatus), ready corev1.ConditionStatus) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := time.Now().Truncate(time.Second)
	reason, msg := "KubeletReady", "a ghost: no kubelet runs this node"
	if ready != corev1.ConditionTrue {
		reason, msg = "NodeStatusUnknown", "Kubelet stopped posting node status."
	}
	// The node lifecycle controller updates the node too (its taints).
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := g.c.Client.CoreV1().Nodes().Get(ctx, g.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if mutate != nil {
			mutate(&cur.Status)
		}
		cur.Status.Conditions = []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: ready, Reason: reason, Message: msg,
			LastHeartbeatTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now),
		}}
		_, err = g.c.Client.CoreV1().Nodes().UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("update the status of node %s: %v", g.Name, err)
	}
	return now
}
