package kubernetes

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/labrm/terraform-provider-lab/server/workload"
)

// PodFor is the pod Ensure would create for spec, for tests that create
// it themselves (bound to a node of their own).
func PodFor(e *Engine, spec workload.Spec) (*corev1.Pod, error) { return podFor(spec, e.podOptions()) }
