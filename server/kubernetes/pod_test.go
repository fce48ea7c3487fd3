package kubernetes

import (
	"maps"
	"slices"
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
		Requests:    workload.Resources{MilliCPU: 50, MemoryBytes: 32 << 20},
		PidsLimit:   100,
		StopTimeout: 2500 * time.Millisecond,
		Command:     []string{"httpd"},
		Args:        []string{"-f", "-p", "9000"},
		Port:        9000,
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
		sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault || sc.RunAsUser != nil || sc.ReadOnlyRootFilesystem != nil {
		t.Errorf("container security context %+v", sc)
	}
	var added []string
	for _, c := range sc.Capabilities.Add {
		added = append(added, string(c))
	}
	if !slices.Equal(added, workload.Capabilities) {
		t.Errorf("capabilities added %v, want the engines' common set %v", added, workload.Capabilities)
	}
	if l := c.Resources.Limits; !l.Cpu().Equal(resource.MustParse("250m")) || !l.Memory().Equal(resource.MustParse("64Mi")) {
		t.Errorf("limits %v, want cpu 250m and memory 64Mi", l)
	}
	if r := c.Resources.Requests; !r.Cpu().Equal(resource.MustParse("50m")) || !r.Memory().Equal(resource.MustParse("32Mi")) {
		t.Errorf("requests %v, want cpu 50m and memory 32Mi", r)
	}
	if !slices.Equal(c.Command, []string{"httpd"}) || !slices.Equal(c.Args, []string{"-f", "-p", "9000"}) {
		t.Errorf("command %q, args %q", c.Command, c.Args)
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 9000 || c.Ports[0].Name != "app" {
		t.Errorf("ports %+v", c.Ports)
	}
	if p := c.ReadinessProbe; p == nil || p.TCPSocket == nil || p.TCPSocket.Port.String() != "app" || p.HTTPGet != nil {
		t.Errorf("readiness probe %+v, want a TCP connection to the app port", p)
	}
	if len(s.Volumes) != 0 || len(c.VolumeMounts) != 0 || s.Affinity != nil {
		t.Errorf("volumes %+v, mounts %+v, affinity %+v without a workspace", s.Volumes, c.VolumeMounts, s.Affinity)
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

	// An HTTP readiness path; a workspace; a user and a read-only root,
	// from the installation's defaults.
	spec.ReadinessPath = "/healthz"
	spec.Workspace = &workload.Mount{Workspace: "ws-0123", Path: "/home/student",
		Labels: map[string]string{workload.LabelStudent: "ada@uni.edu"}}
	ro := opts
	ro.RunAsUser, ro.ReadOnlyRootFilesystem = new(int64(1000)), true
	p, err = podFor(spec, ro)
	if err != nil {
		t.Fatal(err)
	}
	c = p.Spec.Containers[0]
	if h := c.ReadinessProbe.HTTPGet; h == nil || h.Path != "/healthz" || h.Port.String() != "app" || c.ReadinessProbe.TCPSocket != nil {
		t.Errorf("readiness probe %+v, want GET /healthz on the app port", c.ReadinessProbe)
	}
	if *c.SecurityContext.RunAsUser != 1000 || !*c.SecurityContext.ReadOnlyRootFilesystem {
		t.Errorf("security context %+v, want user 1000 and a read-only root", c.SecurityContext)
	}
	vols := map[string]corev1.Volume{}
	for _, v := range p.Spec.Volumes {
		vols[v.Name] = v
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if v := vols["workspace"]; v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "ws-0123" || mounts["workspace"] != "/home/student" {
		t.Errorf("workspace volume %+v mounted at %q", v, mounts["workspace"])
	}
	if v := vols["tmp"]; v.EmptyDir == nil || v.EmptyDir.Medium != corev1.StorageMediumMemory || mounts["tmp"] != "/tmp" {
		t.Errorf("tmp volume %+v mounted at %q", v, mounts["tmp"])
	}
	if p.Labels[LabelPrefix+"workspace"] != "ws-0123" {
		t.Errorf("labels %v lack the workspace", p.Labels)
	}
	a := p.Spec.Affinity
	if a == nil || a.PodAffinity == nil || len(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Fatalf("affinity %+v, want the pods of one workspace on one node", a)
	}
	if term := a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0]; term.TopologyKey != corev1.LabelHostname ||
		!maps.Equal(term.LabelSelector.MatchLabels, map[string]string{LabelPrefix + "workspace": "ws-0123"}) {
		t.Errorf("affinity term %+v", term)
	}
	// The spec's own user wins over the installation's.
	spec.RunAsUser = new(int64(0))
	if p, _ = podFor(spec, ro); *p.Spec.Containers[0].SecurityContext.RunAsUser != 0 {
		t.Errorf("run as user %d, want the spec's 0", *p.Spec.Containers[0].SecurityContext.RunAsUser)
	}

	// Limits alone: requests equal them (Guaranteed).
	spec = workload.Spec{Name: "lab-u2", Image: "img", Limits: workload.Resources{MilliCPU: 250, MemoryBytes: 64 << 20}}
	p, err = podFor(spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	if r := p.Spec.Containers[0].Resources; !r.Requests.Cpu().Equal(resource.MustParse("250m")) || !r.Requests.Memory().Equal(resource.MustParse("64Mi")) ||
		len(p.Spec.Containers[0].Ports) != 0 || p.Spec.Containers[0].ReadinessProbe != nil {
		t.Errorf("limits alone: %+v; no port: %+v", r, p.Spec.Containers[0].Ports)
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
