package kubernetes

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/labrm/terraform-provider-lab/server/workload"
)

// LabelPrefix turns a workload label key into a Kubernetes one:
// "resource-uid" is "lab.labrm.io/resource-uid" on a pod or claim. A
// workload label value that is no valid Kubernetes label value (a
// student's e-mail address) goes into an annotation of the same key.
const LabelPrefix = "lab.labrm.io/"

// ContainerName is the name of a lab pod's one container.
const ContainerName = "lab"

// managedSelector and managedLabels select every object labelled
// managed-by=labd.
var (
	managedSelector = LabelPrefix + workload.LabelManagedBy + "=" + workload.ManagedBy
	managedLabels   = labels.SelectorFromSet(labels.Set{LabelPrefix + workload.LabelManagedBy: workload.ManagedBy})
)

// kubeLabels maps workload labels onto Kubernetes labels, and the values
// that cannot be label values onto annotations. An error names a key that
// cannot be made a label key.
func kubeLabels(l map[string]string) (labels, annotations map[string]string, err error) {
	labels = map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(l)) {
		key := LabelPrefix + k
		if errs := validation.IsQualifiedName(key); len(errs) > 0 {
			return nil, nil, fmt.Errorf("workload label %q: %s", k, strings.Join(errs, "; "))
		}
		if v := l[k]; len(validation.IsValidLabelValue(v)) == 0 {
			labels[key] = v
		} else {
			if annotations == nil {
				annotations = map[string]string{}
			}
			annotations[key] = v
		}
	}
	return labels, annotations, nil
}

// workloadLabels reads workload labels back from an object's labels and
// annotations: the keys under LabelPrefix, without it. Other labels (and
// Kubernetes' own) are not the workload's.
func workloadLabels(m metav1.Object) map[string]string {
	out := map[string]string{}
	for _, src := range []map[string]string{m.GetAnnotations(), m.GetLabels()} {
		for k, v := range src {
			if name, ok := strings.CutPrefix(k, LabelPrefix); ok && name != "" {
				out[name] = v
			}
		}
	}
	return out
}

// podOptions are the settings of the engine that shape a lab's pod.
type podOptions struct {
	Namespace       string
	PullPolicy      corev1.PullPolicy
	NodeSelector    map[string]string
	Tolerations     []corev1.Toleration
	DefaultStopTime time.Duration
}

// podFor is the pod of a workload: one container named ContainerName,
// never restarted (an exit is for the controller to judge), with the
// spec's limits (and requests equal to them: what the lab reserved in
// labd is what the scheduler reserves on a node), its environment taken
// literally, and hardened: no service account token, no service links,
// no privilege escalation, every capability dropped, the runtime's
// default seccomp profile. Pure.
func podFor(spec workload.Spec, o podOptions) (*corev1.Pod, error) {
	if spec.Name == "" || spec.Image == "" {
		return nil, fmt.Errorf("pod: name and image are required")
	}
	l := maps.Clone(spec.Labels)
	if l == nil {
		l = map[string]string{}
	}
	l[workload.LabelManagedBy] = workload.ManagedBy
	labels, annotations, err := kubeLabels(l)
	if err != nil {
		return nil, fmt.Errorf("pod %s: %w", spec.Name, err)
	}
	grace := int64(seconds(spec.StopTimeout))
	if spec.StopTimeout <= 0 {
		grace = int64(seconds(o.DefaultStopTime))
	}
	resources := corev1.ResourceList{}
	if spec.Limits.MilliCPU > 0 {
		resources[corev1.ResourceCPU] = *resource.NewMilliQuantity(spec.Limits.MilliCPU, resource.DecimalSI)
	}
	if spec.Limits.MemoryBytes > 0 {
		resources[corev1.ResourceMemory] = *resource.NewQuantity(spec.Limits.MemoryBytes, resource.BinarySI)
	}
	runtimeDefault := &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        spec.Name,
			Namespace:   o.Namespace,
			Labels:      labels,
			Annotations: annotations,
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  new(false),
			EnableServiceLinks:            new(false),
			TerminationGracePeriodSeconds: &grace,
			NodeSelector:                  maps.Clone(o.NodeSelector),
			Tolerations:                   slices.Clone(o.Tolerations),
			SecurityContext:               &corev1.PodSecurityContext{SeccompProfile: runtimeDefault},
			Containers: []corev1.Container{{
				Name:                     ContainerName,
				Image:                    spec.Image,
				ImagePullPolicy:          o.PullPolicy,
				Env:                      env(spec.Env),
				Resources:                corev1.ResourceRequirements{Limits: resources, Requests: resources.DeepCopy()},
				TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				SecurityContext: &corev1.SecurityContext{
					Privileged:               new(false),
					AllowPrivilegeEscalation: new(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
					SeccompProfile:           runtimeDefault,
				},
			}},
		},
	}
	if len(resources) == 0 {
		pod.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
	}
	return pod, nil
}

// env renders the environment in a stable order, each value taken
// literally: the kubelet expands $(NAME) in values, and "$$" is its
// escape for "$".
func env(m map[string]string) []corev1.EnvVar {
	out := make([]corev1.EnvVar, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, corev1.EnvVar{Name: k, Value: strings.ReplaceAll(m[k], "$", "$$")})
	}
	return out
}

// sameLab: the pod is the workload of the same lab with the same spec.
// The leader epoch is not compared: a new leader adopts what the old one
// started.
func sameLab(have, want map[string]string) bool {
	return have[workload.LabelResourceUID] == want[workload.LabelResourceUID] &&
		have[workload.LabelSpecHash] == want[workload.LabelSpecHash]
}

// seconds rounds a duration up to whole seconds.
func seconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}
