package kubernetes

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/labrm/terraform-provider-lab/server/workload"
)

// harden applies the hardening profile every lab gets, the Docker
// engine's (server/docker/harden.go) in Kubernetes' terms, in the spirit
// of the Pod Security Standards' "baseline" with "restricted"'s
// confinement where lab images allow it:
//
//   - every capability dropped and only workload.Capabilities given back,
//     no privilege escalation (no_new_privs: setuid binaries gain
//     nothing), not privileged;
//   - the runtime's default seccomp profile (RuntimeDefault, never
//     Unconfined), for the pod and the container;
//   - no service account token (labs do not talk to the API server), no
//     service links (no environment about other services), no host
//     namespaces, ports or paths;
//   - a numeric user (Spec.RunAsUser, else the installation's), and a
//     read-only root file system (Spec.ReadOnlyRootFilesystem or the
//     installation's) with a writable /tmp: an emptyDir in memory, which
//     counts against the lab's memory limit as Docker's tmpfs does. The
//     workspace claim stays writable.
//
// Docker's pids limit has no per-pod setting: the kubelet's podPidsLimit
// bounds every pod's processes on a node.
func harden(pod *corev1.Pod, spec workload.Spec, o podOptions) {
	runtimeDefault := &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{SeccompProfile: runtimeDefault}
	caps := make([]corev1.Capability, 0, len(workload.Capabilities))
	for _, c := range workload.Capabilities {
		caps = append(caps, corev1.Capability(c))
	}
	sc := &corev1.SecurityContext{
		Privileged:               new(false),
		AllowPrivilegeEscalation: new(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: caps},
		SeccompProfile:           runtimeDefault,
	}
	uid := spec.RunAsUser
	if uid == nil {
		uid = o.RunAsUser
	}
	if uid != nil {
		sc.RunAsUser = new(*uid)
	}
	c := &pod.Spec.Containers[0]
	if spec.ReadOnlyRootFilesystem || o.ReadOnlyRootFilesystem {
		sc.ReadOnlyRootFilesystem = new(true)
		if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == "/tmp" }) {
			pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: tmpVolume,
				VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}})
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: tmpVolume, MountPath: "/tmp"})
		}
	}
	c.SecurityContext = sc
}
