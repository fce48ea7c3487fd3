package kubernetes

import (
	"maps"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/labrm/terraform-provider-lab/server/workload"
)

func TestLabelsRoundTrip(t *testing.T) {
	t.Parallel()
	in := map[string]string{
		workload.LabelManagedBy:   workload.ManagedBy,
		workload.LabelResourceUID: "7ca48970-0000-4000-8000-000000000001",
		workload.LabelSpecHash:    "0123456789abcdef",
		"student":                 "Ada.Lovelace@uni.edu", // no valid label value
		"empty":                   "",
		"long":                    strings.Repeat("x", 64), // one too many for a label value
	}
	labels, annotations, err := kubeLabels(in)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range labels {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 || !strings.HasPrefix(k, LabelPrefix) {
			t.Errorf("label key %q: %v", k, errs)
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			t.Errorf("label %s=%q: %v", k, v, errs)
		}
	}
	if labels[LabelPrefix+"resource-uid"] != in[workload.LabelResourceUID] || labels[LabelPrefix+"managed-by"] != "labd" {
		t.Errorf("labels %v", labels)
	}
	if len(annotations) != 2 || annotations[LabelPrefix+"student"] != "Ada.Lovelace@uni.edu" || annotations[LabelPrefix+"long"] == "" {
		t.Errorf("annotations %v, want the e-mail and the long value", annotations)
	}
	back := workloadLabels(&metav1.ObjectMeta{Labels: labels, Annotations: annotations})
	if !maps.Equal(back, in) {
		t.Errorf("round trip: %v, want %v", back, in)
	}
	if _, _, err := kubeLabels(map[string]string{"not a key": "x"}); err == nil {
		t.Error("a key with spaces was accepted")
	}
}

func TestPodFor(t *testing.T) {
	t.Parallel()
	spec := workload.Spec{
		Name: "lab-u1", Image: "labrm/busybox:test",
		Env:         map[string]string{"B": "two", "A": "cost $(HOME) or $$5", "LAB_NAME": "x"},
		Labels:      map[string]string{workload.LabelResourceUID: "u1", workload.LabelInstallation: "inst"},
		Limits:      workload.Resources{MilliCPU: 250, MemoryBytes: 64 << 20},
		PidsLimit:   100,
		StopTimeout: 2500 * time.Millisecond,
	}
	opts := podOptions{
		Namespace: "labs", PullPolicy: corev1.PullNever, DefaultStopTime: 10 * time.Second,
		NodeSelector: map[string]string{"labrm.io/labs": "true"},
		Tolerations:  []corev1.Toleration{{Key: "labs", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
	}
	p, err := podFor(spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "lab-u1" || p.Namespace != "labs" {
		t.Errorf("pod %s/%s", p.Namespace, p.Name)
	}
	if p.Labels[LabelPrefix+"managed-by"] != "labd" || p.Labels[LabelPrefix+"resource-uid"] != "u1" || p.Labels[LabelPrefix+"installation"] != "inst" {
		t.Errorf("labels %v", p.Labels)
	}
	s := p.Spec
	if s.RestartPolicy != corev1.RestartPolicyNever || *s.AutomountServiceAccountToken || *s.EnableServiceLinks ||
		*s.TerminationGracePeriodSeconds != 3 || s.NodeSelector["labrm.io/labs"] != "true" || len(s.Tolerations) != 1 {
		t.Errorf("pod spec %+v", s)
	}
	if s.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod seccomp %+v", s.SecurityContext)
	}
	if len(s.Containers) != 1 {
		t.Fatalf("%d containers", len(s.Containers))
	}
	c := s.Containers[0]
	if c.Name != ContainerName || c.Image != spec.Image || c.ImagePullPolicy != corev1.PullNever {
		t.Errorf("container %s %s %s", c.Name, c.Image, c.ImagePullPolicy)
	}
	sc := c.SecurityContext
	if *sc.Privileged || *sc.AllowPrivilegeEscalation || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" ||
		len(sc.Capabilities.Add) != 0 || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container security context %+v", sc)
	}
	for _, rl := range []corev1.ResourceList{c.Resources.Limits, c.Resources.Requests} {
		if !rl.Cpu().Equal(resource.MustParse("250m")) || !rl.Memory().Equal(resource.MustParse("64Mi")) {
			t.Errorf("resources %v, want cpu 250m and memory 64Mi as limits and requests", rl)
		}
	}
	want := []corev1.EnvVar{{Name: "A", Value: "cost $$(HOME) or $$$$5"}, {Name: "B", Value: "two"}, {Name: "LAB_NAME", Value: "x"}}
	if len(c.Env) != len(want) {
		t.Fatalf("env %v", c.Env)
	}
	for i := range want {
		if c.Env[i] != want[i] {
			t.Errorf("env[%d] = %+v, want %+v (sorted, $ escaped as $$)", i, c.Env[i], want[i])
		}
	}

	// No limits: no resources at all (best effort); no stop timeout: the default.
	spec.Limits, spec.StopTimeout = workload.Resources{}, 0
	p, err = podFor(spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	if r := p.Spec.Containers[0].Resources; len(r.Limits) != 0 || len(r.Requests) != 0 {
		t.Errorf("resources without limits: %+v", r)
	}
	if *p.Spec.TerminationGracePeriodSeconds != 10 {
		t.Errorf("grace %d, want the default 10", *p.Spec.TerminationGracePeriodSeconds)
	}
	if _, err := podFor(workload.Spec{Name: "x"}, opts); err == nil {
		t.Error("a spec without an image was accepted")
	}
}

func TestUsable(t *testing.T) {
	t.Parallel()
	mk := func(ready corev1.ConditionStatus, mutate func(*corev1.Node)) *corev1.Node {
		n := node(ready, time.Hour)
		n.Labels = map[string]string{"pool": "labs"}
		if mutate != nil {
			mutate(n)
		}
		return n
	}
	taint := func(effect corev1.TaintEffect) func(*corev1.Node) {
		return func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "labs", Effect: effect}}
		}
	}
	tolerate := []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "labs"}}
	for _, tc := range []struct {
		name        string
		node        *corev1.Node
		selector    map[string]string
		tolerations []corev1.Toleration
		want        bool
	}{
		{"ready", mk(corev1.ConditionTrue, nil), nil, nil, true},
		{"not ready", mk(corev1.ConditionFalse, nil), nil, nil, false},
		{"unknown", mk(corev1.ConditionUnknown, nil), nil, nil, false},
		{"no ready condition", mk(corev1.ConditionTrue, func(n *corev1.Node) { n.Status.Conditions = nil }), nil, nil, false},
		{"cordoned", mk(corev1.ConditionTrue, func(n *corev1.Node) { n.Spec.Unschedulable = true }), nil, nil, false},
		{"selector matches", mk(corev1.ConditionTrue, nil), map[string]string{"pool": "labs"}, nil, true},
		{"selector does not match", mk(corev1.ConditionTrue, nil), map[string]string{"pool": "gpu"}, nil, false},
		{"NoSchedule taint", mk(corev1.ConditionTrue, taint(corev1.TaintEffectNoSchedule)), nil, nil, false},
		{"NoExecute taint", mk(corev1.ConditionTrue, taint(corev1.TaintEffectNoExecute)), nil, nil, false},
		{"PreferNoSchedule taint", mk(corev1.ConditionTrue, taint(corev1.TaintEffectPreferNoSchedule)), nil, nil, true},
		{"tolerated taint", mk(corev1.ConditionTrue, taint(corev1.TaintEffectNoSchedule)), nil, tolerate, true},
	} {
		if got := usable(tc.node, tc.selector, tc.tolerations); got != tc.want {
			t.Errorf("%s: usable = %v, want %v", tc.name, got, tc.want)
		}
	}
}
