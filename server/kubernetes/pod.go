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
	"k8s.io/apimachinery/pkg/util/intstr"
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

// Names in a lab pod.
const (
	// appPort names the container port of the lab's app (Spec.Port); the
	// readiness probe targets it and status reads the port back from it.
	appPort = "app"
	// workspaceVolume is the student's workspace claim; tmpVolume the
	// writable /tmp of a read-only root file system.
	workspaceVolume = "workspace"
	tmpVolume       = "tmp"
	// labelWorkspace, a workload label key, carries the workspace claim's
	// name on the pods that mount it: the pod affinity that keeps them on
	// one node selects by it.
	labelWorkspace = "workspace"
)

// Readiness probe timing: the kubelet probes the app every probePeriod
// from the container's start, and the pod is Ready after one success.
const (
	probePeriod  = 2
	probeTimeout = 2
)

// podOptions are the settings of the engine that shape a lab's pod.
type podOptions struct {
	Namespace       string
	PullPolicy      corev1.PullPolicy
	NodeSelector    map[string]string
	Tolerations     []corev1.Toleration
	DefaultStopTime time.Duration
	// RunAsUser and ReadOnlyRootFilesystem are the installation's
	// defaults for labs whose spec sets neither.
	RunAsUser              *int64
	ReadOnlyRootFilesystem bool
}

// podFor is the pod of a workload: one container named ContainerName,
// never restarted (an exit is for the controller to judge), with the
// spec's requests and limits, its command and arguments, its environment
// taken literally, its app port with a readiness probe (an HTTP GET of
// ReadinessPath, else a TCP connection: the kubelet decides when the app
// answers), the student's workspace claim mounted at its path, and
// hardened as every lab is (see harden). Pure.
func podFor(spec workload.Spec, o podOptions) (*corev1.Pod, error) {
	if spec.Name == "" || spec.Image == "" {
		return nil, fmt.Errorf("pod: name and image are required")
	}
	if spec.Port < 0 || spec.Port > 65535 {
		return nil, fmt.Errorf("pod %s: port %d out of range", spec.Name, spec.Port)
	}
	l := maps.Clone(spec.Labels)
	if l == nil {
		l = map[string]string{}
	}
	l[workload.LabelManagedBy] = workload.ManagedBy
	if ws := spec.Workspace; ws != nil {
		l[labelWorkspace] = ws.Workspace
	}
	labels, annotations, err := kubeLabels(l)
	if err != nil {
		return nil, fmt.Errorf("pod %s: %w", spec.Name, err)
	}
	grace := int64(seconds(spec.StopTimeout))
	if spec.StopTimeout <= 0 {
		grace = int64(seconds(o.DefaultStopTime))
	}
	c := corev1.Container{
		Name:                     ContainerName,
		Image:                    spec.Image,
		ImagePullPolicy:          o.PullPolicy,
		Command:                  slices.Clone(spec.Command),
		Args:                     slices.Clone(spec.Args),
		Env:                      env(spec.Env),
		Resources:                resources(spec),
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	}
	if spec.Port > 0 {
		c.Ports = []corev1.ContainerPort{{Name: appPort, ContainerPort: int32(spec.Port), Protocol: corev1.ProtocolTCP}}
		c.ReadinessProbe = readinessProbe(spec)
	}
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
		},
	}
	if ws := spec.Workspace; ws != nil {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: workspaceVolume, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: ws.Workspace}}})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: workspaceVolume, MountPath: ws.Path})
		pod.Spec.Affinity = sameNode(labels[LabelPrefix+labelWorkspace])
	}
	pod.Spec.Containers = []corev1.Container{c}
	harden(pod, spec, o)
	return pod, nil
}

// resources are the container's limits and requests. A request left out
// (zero) defaults to its limit, as Kubernetes does; no limits and no
// requests is a best-effort pod.
func resources(spec workload.Spec) corev1.ResourceRequirements {
	list := func(r workload.Resources) corev1.ResourceList {
		out := corev1.ResourceList{}
		if r.MilliCPU > 0 {
			out[corev1.ResourceCPU] = *resource.NewMilliQuantity(r.MilliCPU, resource.DecimalSI)
		}
		if r.MemoryBytes > 0 {
			out[corev1.ResourceMemory] = *resource.NewQuantity(r.MemoryBytes, resource.BinarySI)
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	rr := corev1.ResourceRequirements{Limits: list(spec.Limits), Requests: list(spec.Requests)}
	for name, qty := range rr.Limits {
		if _, ok := rr.Requests[name]; !ok {
			if rr.Requests == nil {
				rr.Requests = corev1.ResourceList{}
			}
			rr.Requests[name] = qty.DeepCopy()
		}
	}
	return rr
}

// readinessProbe makes the kubelet decide when the app answers: an HTTP
// GET of ReadinessPath (the kubelet counts 200-399 as ready), or a TCP
// connection to the app port. It probes from the container's start, and
// for the pod's life.
func readinessProbe(spec workload.Spec) *corev1.Probe {
	p := &corev1.Probe{PeriodSeconds: probePeriod, TimeoutSeconds: probeTimeout, SuccessThreshold: 1, FailureThreshold: 3}
	port := intstr.FromString(appPort)
	if spec.ReadinessPath != "" {
		p.HTTPGet = &corev1.HTTPGetAction{Path: spec.ReadinessPath, Port: port, Scheme: corev1.URISchemeHTTP,
			HTTPHeaders: []corev1.HTTPHeader{{Name: "User-Agent", Value: "labd-readiness-probe"}}}
	} else {
		p.TCPSocket = &corev1.TCPSocketAction{Port: port}
	}
	return p
}

// sameNode keeps the pods of one workspace on one node: a workspace claim
// is ReadWriteOnce, which lets pods on one node share it and no others.
// The first pod goes wherever it fits (a pod that matches its own
// affinity term needs no other to schedule); a student's second lab, while
// the first runs, goes to the same node or waits, Pending with the
// scheduler's reason, until there is room there or the first has ended
// (ended pods do not count).
func sameNode(workspaceLabel string) *corev1.Affinity {
	return &corev1.Affinity{PodAffinity: &corev1.PodAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelPrefix + labelWorkspace: workspaceLabel}},
			TopologyKey:   corev1.LabelHostname,
		}},
	}}
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
