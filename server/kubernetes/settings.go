package kubernetes

import (
	"fmt"
	"log/slog"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/klog/v2"
)

// LogTo sends client-go's own log lines (klog: watch restarts, throttling,
// warnings the API server returns) to logger, as structured records, so
// that a labd process logs in one format. klog is process-wide: call it
// once, from the wiring.
func LogTo(logger *slog.Logger) { klog.SetSlogLogger(logger) }

// CheckSize checks a workspace size: a positive Kubernetes quantity
// (1Gi, 500Mi).
func CheckSize(s string) error {
	q, err := resource.ParseQuantity(s)
	if err != nil || q.Sign() <= 0 {
		return fmt.Errorf("size %q: want a positive quantity like 1Gi", s)
	}
	return nil
}

// ParsePullPolicy reads an image pull policy: Always, IfNotPresent or
// Never ("" is IfNotPresent).
func ParsePullPolicy(s string) (corev1.PullPolicy, error) {
	switch p := corev1.PullPolicy(s); p {
	case "":
		return corev1.PullIfNotPresent, nil
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
		return p, nil
	}
	return "", fmt.Errorf("image pull policy %q: want Always, IfNotPresent or Never", s)
}

// ParseNodeSelector reads "key=value,key2=value2" (labels every node a
// lab may go to must carry); "" is no selector.
func ParseNodeSelector(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("node selector %q: want key=value", kv)
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, fmt.Errorf("node selector key %q: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return nil, fmt.Errorf("node selector value %q: %s", v, strings.Join(errs, "; "))
		}
		out[k] = v
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// ParseTolerations reads comma-separated tolerations of the taints on the
// nodes labs may go to: "key=value:Effect" tolerates that taint,
// "key:Effect" any value of key with that effect, "key" any taint of key
// (Effect is NoSchedule, PreferNoSchedule or NoExecute); "" is none.
func ParseTolerations(s string) ([]corev1.Toleration, error) {
	var out []corev1.Toleration
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		rest, effect, hasEffect := strings.Cut(t, ":")
		key, value, hasValue := strings.Cut(rest, "=")
		tol := corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists}
		if hasValue {
			tol.Operator, tol.Value = corev1.TolerationOpEqual, value
			if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
				return nil, fmt.Errorf("toleration %q: value: %s", t, strings.Join(errs, "; "))
			}
		}
		if errs := validation.IsQualifiedName(key); len(errs) > 0 {
			return nil, fmt.Errorf("toleration %q: key: %s", t, strings.Join(errs, "; "))
		}
		if hasEffect {
			switch e := corev1.TaintEffect(effect); e {
			case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
				tol.Effect = e
			default:
				return nil, fmt.Errorf("toleration %q: effect %q: want NoSchedule, PreferNoSchedule or NoExecute", t, effect)
			}
		}
		out = append(out, tol)
	}
	return out, nil
}
