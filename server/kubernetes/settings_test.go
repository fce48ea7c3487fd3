package kubernetes

import (
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestSettings(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]corev1.PullPolicy{"": corev1.PullIfNotPresent, "Always": corev1.PullAlways, "Never": corev1.PullNever} {
		if got, err := ParsePullPolicy(in); err != nil || got != want {
			t.Errorf("ParsePullPolicy(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParsePullPolicy("always"); err == nil {
		t.Error("a pull policy in the wrong case was accepted")
	}

	sel, err := ParseNodeSelector(" labrm.io/pool=labs , zone=a")
	if err != nil || !maps.Equal(sel, map[string]string{"labrm.io/pool": "labs", "zone": "a"}) {
		t.Errorf("ParseNodeSelector = %v, %v", sel, err)
	}
	if sel, err := ParseNodeSelector(""); err != nil || sel != nil {
		t.Errorf("empty selector = %v, %v", sel, err)
	}
	for _, bad := range []string{"pool", "bad key=x", "pool=not a value"} {
		if _, err := ParseNodeSelector(bad); err == nil {
			t.Errorf("ParseNodeSelector(%q) accepted", bad)
		}
	}

	tols, err := ParseTolerations("dedicated=labs:NoSchedule, labrm.io/gpu:NoExecute,spot")
	want := []corev1.Toleration{
		{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "labs", Effect: corev1.TaintEffectNoSchedule},
		{Key: "labrm.io/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: "spot", Operator: corev1.TolerationOpExists},
	}
	if err != nil || len(tols) != len(want) {
		t.Fatalf("ParseTolerations = %+v, %v", tols, err)
	}
	for i := range want {
		if tols[i] != want[i] {
			t.Errorf("toleration %d = %+v, want %+v", i, tols[i], want[i])
		}
	}
	for _, bad := range []string{"k=v:Sometimes", "bad key", "k=bad value"} {
		if _, err := ParseTolerations(bad); err == nil {
			t.Errorf("ParseTolerations(%q) accepted", bad)
		}
	}
}
