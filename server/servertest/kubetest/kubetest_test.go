package kubetest_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/labrm/terraform-provider-lab/server/servertest/kubetest"
)

// webPod is a pod of the test image serving HTTP on 8080, Ready once its
// readiness probe gets an answer.
func webPod(c *kubetest.Cluster, ns, name string, requests corev1.ResourceList) *corev1.Pod {
	grace := int64(5)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name:            "web",
				Image:           c.Image,
				ImagePullPolicy: corev1.PullNever,
				Ports:           []corev1.ContainerPort{{ContainerPort: 8080}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler: corev1.ProbeHandler{
						HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080)},
					},
					PeriodSeconds: 1,
				},
				Resources: corev1.ResourceRequirements{Requests: requests},
			}},
		},
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// TestPodIsScheduledAnswersAndGoes: kube-scheduler places a pod of the test
// image, the kubelet runs it and its readiness probe makes it Ready, the
// test reaches it at its pod IP, and a delete removes it.
func TestPodIsScheduledAnswersAndGoes(t *testing.T) {
	c := kubetest.Connect(t)
	t.Parallel()
	ns := c.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pods := c.Client.CoreV1().Pods(ns)
	created, err := pods.Create(ctx, webPod(c, ns, "web", corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("10m"),
		corev1.ResourceMemory: resource.MustParse("16Mi"),
	}), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod: %v", err)
	}
	if created.Spec.NodeName != "" {
		t.Fatalf("pod created already bound to %q; the scheduler should place it", created.Spec.NodeName)
	}

	core := c.Client.CoreV1().RESTClient()
	pod, err := kubetest.WaitFor(ctx, core, "pods", ns, "web", &corev1.Pod{}, func(p *corev1.Pod) (bool, error) {
		if p == nil {
			return false, fmt.Errorf("pod deleted")
		}
		if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			return false, fmt.Errorf("pod ended: %s %s", p.Status.Phase, p.Status.Message)
		}
		return podReady(p), nil
	})
	if err != nil {
		t.Fatalf("pod not Ready: %v; last seen: %+v", err, pod.Status)
	}
	if pod.Spec.NodeName != c.Node {
		t.Errorf("pod runs on %q, want node %q", pod.Spec.NodeName, c.Node)
	}
	if sc := podCondition(pod, corev1.PodScheduled); sc == nil || sc.Status != corev1.ConditionTrue {
		t.Errorf("PodScheduled condition = %+v, want True", sc)
	}
	if pod.Status.PodIP == "" {
		t.Fatal("Ready pod has no IP")
	}

	// From this process (the host) to the pod, over the test bridge.
	url := "http://" + net.JoinHostPort(pod.Status.PodIP, "8080") + "/"
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "labrm test lab is up") {
		t.Fatalf("GET %s = %d %q, want 200 and the test page", url, resp.StatusCode, body)
	}

	if err := pods.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete pod: %v", err)
	}
	if _, err := kubetest.WaitFor(ctx, core, "pods", ns, "web", &corev1.Pod{}, kubetest.Gone); err != nil {
		t.Fatalf("pod not gone after delete: %v", err)
	}
	if _, err := pods.Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get deleted pod = %v, want NotFound", err)
	}
}

// TestPodThatFitsNoNodeStaysPending: a pod requesting more CPU than the
// node can allocate is left Pending with the scheduler's Unschedulable
// reason.
func TestPodThatFitsNoNodeStaysPending(t *testing.T) {
	c := kubetest.Connect(t)
	t.Parallel()
	ns := c.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	node, err := c.Client.CoreV1().Nodes().Get(ctx, c.Node, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get node: %v", err)
	}
	tooMuch := node.Status.Allocatable.Cpu().DeepCopy()
	tooMuch.Add(resource.MustParse("1"))
	pods := c.Client.CoreV1().Pods(ns)
	if _, err := pods.Create(ctx, webPod(c, ns, "huge", corev1.ResourceList{corev1.ResourceCPU: tooMuch}), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod: %v", err)
	}

	core := c.Client.CoreV1().RESTClient()
	pod, err := kubetest.WaitFor(ctx, core, "pods", ns, "huge", &corev1.Pod{}, func(p *corev1.Pod) (bool, error) {
		if p == nil {
			return false, fmt.Errorf("pod deleted")
		}
		sc := podCondition(p, corev1.PodScheduled)
		return sc != nil && sc.Status == corev1.ConditionFalse, nil
	})
	if err != nil {
		t.Fatalf("pod not marked unschedulable: %v; last seen: %+v", err, pod.Status)
	}
	sc := podCondition(pod, corev1.PodScheduled)
	if sc.Reason != corev1.PodReasonUnschedulable {
		t.Errorf("PodScheduled reason = %q, want %q", sc.Reason, corev1.PodReasonUnschedulable)
	}
	if !strings.Contains(sc.Message, "Insufficient cpu") {
		t.Errorf("PodScheduled message = %q, want it to name the insufficient cpu", sc.Message)
	}
	if pod.Status.Phase != corev1.PodPending || pod.Spec.NodeName != "" {
		t.Errorf("pod phase %s on node %q, want Pending on none", pod.Status.Phase, pod.Spec.NodeName)
	}
}

// TestNamespaceIsDeletedAfterTheTest: the namespace of a finished (sub)test
// is being deleted, with its contents.
func TestNamespaceIsDeletedAfterTheTest(t *testing.T) {
	c := kubetest.Connect(t)
	t.Parallel()
	var ns string
	t.Run("uses", func(t *testing.T) {
		ns = c.Namespace(t)
		if !strings.HasPrefix(ns, "t-testnamespaceisdeletedafterthetest-uses-") {
			t.Errorf("namespace name %q does not tell the test", ns)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		t.Fatalf("get namespace %s: %v", ns, err)
	case got.DeletionTimestamp == nil:
		t.Fatalf("namespace %s is not being deleted after its test ended", ns)
	}
}

// TestVolumeIsBoundAndWritten: a claim of the class that Volume made binds
// to its volume, and what a pod writes there lands in the directory.
func TestVolumeIsBoundAndWritten(t *testing.T) {
	c := kubetest.Connect(t)
	t.Parallel()
	ns := c.Namespace(t)
	class, dir := c.Volume(t, "64Mi")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "workspace", Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &class,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")},
			},
		},
	}
	if _, err := c.Client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, claim, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create claim: %v", err)
	}
	pod := webPod(c, ns, "writer", nil)
	pod.Spec.Containers[0].Command = []string{"/bin/sh", "-c", "echo kept > /data/hello"}
	pod.Spec.Containers[0].ReadinessProbe = nil
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "ws", MountPath: "/data"}}
	pod.Spec.Volumes = []corev1.Volume{{Name: "ws", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "workspace"},
	}}}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod: %v", err)
	}
	core := c.Client.CoreV1().RESTClient()
	got, err := kubetest.WaitFor(ctx, core, "pods", ns, "writer", &corev1.Pod{}, func(p *corev1.Pod) (bool, error) {
		if p == nil {
			return false, fmt.Errorf("pod deleted")
		}
		if p.Status.Phase == corev1.PodFailed {
			return false, fmt.Errorf("pod failed: %s", p.Status.Message)
		}
		return p.Status.Phase == corev1.PodSucceeded, nil
	})
	if err != nil {
		t.Fatalf("pod did not succeed: %v; last seen: %+v", err, got.Status)
	}
	bound, err := c.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "workspace", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get claim: %v", err)
	}
	if bound.Status.Phase != corev1.ClaimBound || bound.Spec.VolumeName != class {
		t.Errorf("claim is %s to volume %q, want Bound to %q", bound.Status.Phase, bound.Spec.VolumeName, class)
	}
	data, err := os.ReadFile(filepath.Join(dir, "hello"))
	if err != nil || string(data) != "kept\n" {
		t.Fatalf("file written by the pod: %q, %v; want \"kept\\n\"", data, err)
	}
}
