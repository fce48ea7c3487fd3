package kubernetes

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/labrm/terraform-provider-lab/server/workload"
)

// Capacity is the sum of the allocatable CPU and memory of the nodes labs
// can be placed on (usable): what the cluster offers labs in total. What
// other pods on those nodes request is not subtracted, nor what labs
// request: labd admits labs first come first served against this total,
// less its own labs' reservations, and the scheduler places them; a lab
// that finds no room stays Pending with the scheduler's reason.
func (e *Engine) Capacity(ctx context.Context) (workload.Resources, error) {
	nodes, err := e.usableNodes(ctx)
	if err != nil {
		return workload.Resources{}, err
	}
	var sum workload.Resources
	for _, n := range nodes {
		a := allocatable(n)
		sum.MilliCPU += a.MilliCPU
		sum.MemoryBytes += a.MemoryBytes
	}
	return sum, nil
}

// Largest is the largest workload the engine can ever place: per
// resource, the most that any one usable node allocates. A lab asking for
// more CPU or more memory than this can never run (it fits no node,
// however empty); one within it may still fit no single node when nodes
// differ in shape, and then stays Pending with the scheduler's reason.
// (The Docker engine's equivalent is its Capacity: one host.)
func (e *Engine) Largest(ctx context.Context) (workload.Resources, error) {
	nodes, err := e.usableNodes(ctx)
	if err != nil {
		return workload.Resources{}, err
	}
	var most workload.Resources
	for _, n := range nodes {
		a := allocatable(n)
		most.MilliCPU = max(most.MilliCPU, a.MilliCPU)
		most.MemoryBytes = max(most.MemoryBytes, a.MemoryBytes)
	}
	return most, nil
}

// usableNodes are the nodes a lab pod can be placed on, from the node
// cache once it has synced.
func (e *Engine) usableNodes(ctx context.Context) ([]*corev1.Node, error) {
	var all []*corev1.Node
	if e.nodesSynced() {
		var err error
		if all, err = e.nodes.List(labels.Everything()); err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
	} else {
		list, err := e.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		for i := range list.Items {
			all = append(all, &list.Items[i])
		}
	}
	var out []*corev1.Node
	for _, n := range all {
		if usable(n, e.cfg.NodeSelector, e.cfg.Tolerations) {
			out = append(out, n)
		}
	}
	return out, nil
}

// usable reports whether a lab pod can be placed on node: it is Ready,
// not cordoned, matches the labs' node selector, and every taint that
// keeps pods off (NoSchedule, NoExecute) is tolerated. Pure.
func usable(node *corev1.Node, selector map[string]string, tolerations []corev1.Toleration) bool {
	if node.Spec.Unschedulable || !labels.SelectorFromSet(selector).Matches(labels.Set(node.Labels)) {
		return false
	}
	ready := false
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			ready = c.Status == corev1.ConditionTrue
		}
	}
	if !ready {
		return false
	}
	for i := range node.Spec.Taints {
		taint := &node.Spec.Taints[i]
		if taint.Effect == corev1.TaintEffectPreferNoSchedule {
			continue
		}
		tolerated := false
		for j := range tolerations {
			if tolerations[j].ToleratesTaint(taint) {
				tolerated = true
				break
			}
		}
		if !tolerated {
			return false
		}
	}
	return true
}

// allocatable is what a node offers pods.
func allocatable(n *corev1.Node) workload.Resources {
	return workload.Resources{
		MilliCPU:    n.Status.Allocatable.Cpu().MilliValue(),
		MemoryBytes: n.Status.Allocatable.Memory().Value(),
	}
}
