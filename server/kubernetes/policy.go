package kubernetes

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"

	"github.com/labrm/terraform-provider-lab/server/workload"
)

// PolicyName is the name of an installation's network policy in the labs
// namespace: one per installation, so that installations sharing the
// namespace each admit their own labd to their own labs.
func PolicyName(installation string) string { return "labd-ingress-" + installation }

// EnsureNetworkPolicy makes this installation's network policy in the
// labs namespace be what it should, creating it or repairing it
// (server-side apply, labd owning every field): ingress to its lab pods is
// admitted only from labd's pods (Config.LabdPodLabels in
// Config.LabdNamespace); other pods, labs included, and anything outside
// the cluster cannot connect to a lab. Egress is not restricted.
//
// The API server stores the policy whatever the cluster's network; it is
// enforced only by a CNI plugin that implements NetworkPolicy (Calico,
// Cilium, kube-router, ...), not by plain bridge networking.
func (e *Engine) EnsureNetworkPolicy(ctx context.Context) error {
	ours := map[string]string{
		workload.LabelManagedBy:    workload.ManagedBy,
		workload.LabelInstallation: e.cfg.Installation,
	}
	selector, _, err := kubeLabels(ours)
	if err != nil {
		return fmt.Errorf("network policy: %w", err)
	}
	name := PolicyName(e.cfg.Installation)
	policy := networkingv1ac.NetworkPolicy(name, e.cfg.Namespace).
		WithLabels(selector).
		WithSpec(networkingv1ac.NetworkPolicySpec().
			WithPodSelector(metav1ac.LabelSelector().WithMatchLabels(selector)).
			WithPolicyTypes(networkingv1.PolicyTypeIngress).
			WithIngress(networkingv1ac.NetworkPolicyIngressRule().
				WithFrom(networkingv1ac.NetworkPolicyPeer().
					WithNamespaceSelector(metav1ac.LabelSelector().
						WithMatchLabels(map[string]string{corev1.LabelMetadataName: e.cfg.LabdNamespace})).
					WithPodSelector(metav1ac.LabelSelector().WithMatchLabels(e.cfg.LabdPodLabels)))))
	_, err = e.cs.NetworkingV1().NetworkPolicies(e.cfg.Namespace).Apply(ctx, policy,
		metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
	if err != nil {
		return fmt.Errorf("apply network policy %s/%s: %w", e.cfg.Namespace, name, err)
	}
	return nil
}
