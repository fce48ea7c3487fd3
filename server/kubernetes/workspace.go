package kubernetes

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/labrm/terraform-provider-lab/server/workload"
)

// EnsureWorkspace makes the PersistentVolumeClaim name exist in the labs
// namespace: a student's workspace, kept across labs. It is created, if
// absent, with the given workload labels (the classroom work's workspace
// labels: managed-by, installation, kind=workspace, namespace, student),
// ReadWriteOnce, Config.WorkspaceSize and Config.StorageClass (empty: the
// cluster's default class). One that exists is left as it is, if it is
// this installation's; another's, or one not managed by labd, is an error.
// It does not wait for the claim to be bound: a class that binds on first
// use binds it when a lab mounts it.
func (e *Engine) EnsureWorkspace(ctx context.Context, name string, labels map[string]string) error {
	claims := e.cs.CoreV1().PersistentVolumeClaims(e.cfg.Namespace)
	for range 2 {
		pvc, err := claims.Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			have := workloadLabels(pvc)
			if !workload.Ours(have, e.cfg.Installation) {
				return fmt.Errorf("workspace claim %s/%s exists but is not this installation's workspace", e.cfg.Namespace, name)
			}
			return nil
		}
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("get workspace claim %s: %w", name, err)
		}
		want, err := e.claimFor(name, labels)
		if err != nil {
			return err
		}
		_, err = claims.Create(ctx, want, metav1.CreateOptions{FieldManager: fieldManager})
		if apierrors.IsAlreadyExists(err) {
			continue // made concurrently: check whose it is
		}
		if err != nil {
			return fmt.Errorf("create workspace claim %s: %w", name, err)
		}
		e.log.Info("created workspace claim", "claim", name, "namespace", labels[workload.LabelNamespace])
		return nil
	}
	return fmt.Errorf("workspace claim %s: created and deleted under us", name)
}

// claimFor is the claim of a new workspace.
func (e *Engine) claimFor(name string, l map[string]string) (*corev1.PersistentVolumeClaim, error) {
	size, err := resource.ParseQuantity(e.cfg.WorkspaceSize)
	if err != nil {
		return nil, fmt.Errorf("workspace size %q: %w", e.cfg.WorkspaceSize, err)
	}
	withOurs := maps.Clone(l)
	if withOurs == nil {
		withOurs = map[string]string{}
	}
	withOurs[workload.LabelManagedBy] = workload.ManagedBy
	withOurs[workload.LabelInstallation] = e.cfg.Installation
	labels, annotations, err := kubeLabels(withOurs)
	if err != nil {
		return nil, fmt.Errorf("workspace claim %s: %w", name, err)
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.cfg.Namespace, Labels: labels, Annotations: annotations},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	}
	if e.cfg.StorageClass != "" {
		pvc.Spec.StorageClassName = new(e.cfg.StorageClass)
	}
	return pvc, nil
}

// workspaceSelector selects every workspace claim labelled managed-by=labd.
var workspaceSelector = managedSelector + "," + LabelPrefix + workload.LabelKind + "=" + workload.KindWorkspace

// ListWorkspaces reports every workspace claim in the labs namespace
// labelled managed-by=labd and kind=workspace, of any installation
// (workload.Ours tells them apart), with its workload labels (the
// student's address from its annotation). It reads the API server: it
// serves a rare request, and the engine keeps no cache of claims.
func (e *Engine) ListWorkspaces(ctx context.Context) ([]workload.Workspace, error) {
	list, err := e.cs.CoreV1().PersistentVolumeClaims(e.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: workspaceSelector})
	if err != nil {
		return nil, fmt.Errorf("list workspace claims: %w", err)
	}
	out := make([]workload.Workspace, 0, len(list.Items))
	for i := range list.Items {
		c := &list.Items[i]
		out = append(out, workload.Workspace{Name: c.Name, Labels: workloadLabels(c), Created: c.CreationTimestamp.UTC()})
	}
	return out, nil
}

// RemoveWorkspace deletes a workspace claim. What happens to the files is
// the volume's reclaim policy: Delete (dynamically provisioned volumes,
// by default) removes them with the volume, Retain keeps the volume,
// Released, for an administrator. Gone, or being deleted, is success; a
// claim that a lab pod still mounts (in any phase: an ended pod is
// removed by its lab's clean-up) is workload.ErrInUse, and so is one that
// Kubernetes' own protection keeps while some other pod uses it. A claim
// that is not a workspace of labd's is refused.
func (e *Engine) RemoveWorkspace(ctx context.Context, name string) error {
	claims := e.cs.CoreV1().PersistentVolumeClaims(e.cfg.Namespace)
	pvc, err := claims.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("get workspace claim %s: %w", name, err)
	case pvc.DeletionTimestamp != nil:
		return nil
	}
	if l := workloadLabels(pvc); l[workload.LabelManagedBy] != workload.ManagedBy || l[workload.LabelKind] != workload.KindWorkspace {
		return fmt.Errorf("remove workspace claim %s/%s: not a workspace managed by %s", e.cfg.Namespace, name, workload.ManagedBy)
	}
	pods, err := e.listPods(ctx)
	if err != nil {
		return fmt.Errorf("remove workspace claim %s: %w", name, err)
	}
	for _, p := range pods {
		if claimOf(p) == name {
			return fmt.Errorf("remove workspace claim %s: %w: pod %s mounts it", name, workload.ErrInUse, p.Name)
		}
	}
	err = claims.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pvc.UID}})
	switch {
	case err == nil, apierrors.IsNotFound(err):
		e.log.Info("deleted workspace claim", "claim", name, "namespace", workloadLabels(pvc)[workload.LabelNamespace])
		return nil
	case apierrors.IsConflict(err):
		return fmt.Errorf("remove workspace claim %s: replaced while being removed: %w", name, err)
	}
	return fmt.Errorf("remove workspace claim %s: %w", name, err)
}

// claimOf is the claim of the pod's workspace volume, or "".
func claimOf(p *corev1.Pod) string {
	for _, v := range p.Spec.Volumes {
		if v.Name == workspaceVolume && v.PersistentVolumeClaim != nil {
			return v.PersistentVolumeClaim.ClaimName
		}
	}
	return ""
}
