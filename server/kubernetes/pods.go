package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/labrm/terraform-provider-lab/internal/wait"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// ensureAttempts bounds the rounds of Ensure that create or delete a pod,
// when other callers keep doing the same under us.
const ensureAttempts = 5

// settleSlack is how much longer than a pod's grace period Stop and
// Remove wait for the kubelet to end it and for the watch to report it.
const settleSlack = 20 * time.Second

// stopPatch ends a pod without deleting it: an active deadline of one
// second, long past for a running pod, makes the kubelet kill it (SIGTERM,
// SIGKILL after the pod's grace period) and mark it Failed with reason
// DeadlineExceeded. The pod, its exit and its logs stay readable. A
// deadline may be set or lowered on a live pod, never raised.
var stopPatch = []byte(`{"spec":{"activeDeadlineSeconds":1}}`)

// Ensure makes the pod spec.Name exist, idempotently:
//
//   - none of that name: create it; the scheduler and kubelet start it;
//   - ours, same resource uid and spec hash: adopt it, in whatever state
//     (an ended pod is reported as it is, never restarted);
//   - ours with another uid or spec hash, or being deleted: delete it,
//     wait until it is gone, and create it anew;
//   - not labelled managed-by=labd: an error, it is not ours to delete.
//
// It does not wait for the pod to start: the status is Pending until the
// kubelet runs it. A pod whose image cannot be had (the kubelet's
// ErrImagePull, ImagePullBackOff, ErrImageNeverPull, InvalidImageName) is
// returned with an error wrapping workload.ErrImage, which is permanent.
// Ensure reads the API server, not the cache: adoption must not act on a
// stale view.
func (e *Engine) Ensure(ctx context.Context, spec workload.Spec) (workload.Status, error) {
	want, err := podFor(spec, e.podOptions())
	if err != nil {
		return workload.Status{}, fmt.Errorf("ensure pod: %w", err)
	}
	wantLabels := workloadLabels(want)
	pods := e.cs.CoreV1().Pods(e.cfg.Namespace)
	for rounds := 0; ; {
		pod, err := pods.Get(ctx, spec.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			if rounds++; rounds > ensureAttempts {
				return workload.Status{}, fmt.Errorf("ensure pod %s: name still contested after %d attempts", spec.Name, ensureAttempts)
			}
			if ws := spec.Workspace; ws != nil {
				// Before the pod: one that names a missing claim would
				// wait for it, Pending, with no word why.
				if err := e.EnsureWorkspace(ctx, ws.Workspace, ws.Labels); err != nil {
					return workload.Status{}, fmt.Errorf("ensure pod %s: %w", spec.Name, err)
				}
			}
			created, err := pods.Create(ctx, want, metav1.CreateOptions{FieldManager: fieldManager})
			if apierrors.IsAlreadyExists(err) {
				continue // a concurrent create won: adopt or replace it
			}
			if err != nil {
				return workload.Status{}, fmt.Errorf("create pod %s: %w", spec.Name, rejected(err))
			}
			e.log.Info("created pod", "pod", spec.Name, "uid", created.UID, "image", spec.Image)
			return e.status(created), nil
		case err != nil:
			return workload.Status{}, fmt.Errorf("get pod %s: %w", spec.Name, err)
		}
		have := workloadLabels(pod)
		switch {
		case have[workload.LabelManagedBy] != workload.ManagedBy:
			return workload.Status{}, fmt.Errorf("ensure pod %s: the name is taken by a pod not managed by %s (uid %s)",
				spec.Name, workload.ManagedBy, pod.UID)
		case pod.DeletionTimestamp == nil && sameLab(have, wantLabels):
			e.log.Debug("adopting pod", "pod", spec.Name, "uid", pod.UID, "phase", pod.Status.Phase)
			st := e.status(pod)
			if reason, msg, ok := imageFailure(pod); ok {
				return st, fmt.Errorf("%w: %s cannot be pulled on node %s: %s: %s", workload.ErrImage, spec.Image, pod.Spec.NodeName, reason, msg)
			}
			return st, nil
		}
		if rounds++; rounds > ensureAttempts {
			return workload.Status{}, fmt.Errorf("ensure pod %s: name still contested after %d attempts", spec.Name, ensureAttempts)
		}
		if pod.DeletionTimestamp == nil {
			e.log.Info("replacing pod: resource uid or spec hash differs", "pod", spec.Name, "uid", pod.UID,
				"have_uid", have[workload.LabelResourceUID], "want_uid", wantLabels[workload.LabelResourceUID],
				"have_spec_hash", have[workload.LabelSpecHash], "want_spec_hash", wantLabels[workload.LabelSpecHash])
		}
		if err := e.deleteAndWait(ctx, pod); err != nil {
			return workload.Status{}, fmt.Errorf("ensure pod %s: %w", spec.Name, err)
		}
	}
}

// rejected marks an API server's refusal of a pod as invalid (422: a
// mount path, a command it cannot take) or as breaking the namespace's
// Pod Security level as permanent: the same pod would be refused again.
// Other refusals (403 for want of a permission, quotas) are transient:
// an administrator can cure them.
func rejected(err error) error {
	if apierrors.IsInvalid(err) || (apierrors.IsForbidden(err) && strings.Contains(err.Error(), "violates PodSecurity")) {
		return fmt.Errorf("%w: %w", workload.ErrRejected, err)
	}
	return err
}

// fieldManager names labd in the objects' managed fields.
const fieldManager = "labd"

func (e *Engine) podOptions() podOptions {
	return podOptions{
		Namespace:       e.cfg.Namespace,
		PullPolicy:      e.cfg.ImagePullPolicy,
		NodeSelector:    e.cfg.NodeSelector,
		Tolerations:     e.cfg.Tolerations,
		DefaultStopTime: DefaultStopTimeout,

		RunAsUser:              e.cfg.RunAsUser,
		ReadOnlyRootFilesystem: e.cfg.ReadOnlyRootFilesystem,
	}
}

// getPod reads a pod from the cache, and from the API server when the
// cache does not have it: a pod just created may not be in the cache yet,
// and "not found" must be the API server's answer, never a lagging
// cache's. workload.ErrNotFound when neither has it.
func (e *Engine) getPod(ctx context.Context, name string) (*corev1.Pod, error) {
	if pod, err := e.pods.Pods(e.cfg.Namespace).Get(name); err == nil {
		return pod, nil
	}
	pod, err := e.cs.CoreV1().Pods(e.cfg.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("pod %s: %w", name, workload.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get pod %s: %w", name, err)
	}
	return pod, nil
}

// Inspect reports the pod called name, or workload.ErrNotFound.
func (e *Engine) Inspect(ctx context.Context, name string) (workload.Status, error) {
	pod, err := e.getPod(ctx, name)
	if err != nil {
		return workload.Status{}, err
	}
	return e.status(pod), nil
}

// status reads a pod with the node it runs on, from the node cache.
func (e *Engine) status(pod *corev1.Pod) workload.Status {
	return status(pod, e.nodeView(pod.Spec.NodeName), e.now())
}

func (e *Engine) nodeView(name string) nodeView {
	nv := nodeView{Known: name != "" && e.nodesSynced(), Timeout: e.cfg.NodeLostTimeout}
	if nv.Known {
		if n, err := e.nodes.Get(name); err == nil {
			nv.Node = n
		}
	}
	return nv
}

// Stop ends a pod's container and keeps the pod, so that its exit and its
// logs stay readable until Remove: it sets the pod's active deadline,
// which makes the kubelet send SIGTERM and, after the pod's grace period
// (Spec.StopTimeout when it was created; timeout cannot change it), SIGKILL.
// It waits, for up to timeout or the grace period and then some, until the
// pod has ended. A pod that never reached a node, or whose node is lost,
// is deleted instead: there is no kubelet to stop it. Gone or already
// ended counts as stopped.
func (e *Engine) Stop(ctx context.Context, name string, timeout time.Duration) error {
	pod, err := e.getPod(ctx, name)
	if errors.Is(err, workload.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	st := e.status(pod)
	switch {
	case st.State == workload.Exited && st.Reason != ReasonNodeLost && st.Reason != ReasonTerminating:
		return nil
	case pod.Spec.NodeName == "" || st.Reason == ReasonNodeLost:
		return e.deleteAndWait(ctx, pod)
	case pod.DeletionTimestamp != nil:
		return nil // being deleted, with its grace period
	}
	_, err = e.cs.CoreV1().Pods(e.cfg.Namespace).Patch(ctx, name, types.StrategicMergePatchType, stopPatch,
		metav1.PatchOptions{FieldManager: fieldManager})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("stop pod %s: %w", name, err)
	}
	bound := max(timeout, gracePeriod(pod)) + settleSlack
	return e.waitFor(ctx, name, bound, "end", func(p *corev1.Pod) bool {
		return p == nil || p.UID != pod.UID || e.status(p).State == workload.Exited
	})
}

// Remove deletes a pod, running or not, with the pod's grace period (its
// container gets SIGTERM first); a pod whose node is lost is deleted at
// once, since no kubelet will confirm. It waits, bounded, until the pod
// is gone, so that Inspect then reports it not found. Not found is
// success.
func (e *Engine) Remove(ctx context.Context, name string) error {
	for range ensureAttempts {
		pod, err := e.getPod(ctx, name)
		if errors.Is(err, workload.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		err = e.deleteAndWait(ctx, pod)
		if !apierrors.IsConflict(err) {
			return err
		}
		// The name now holds another pod (the UID precondition failed):
		// remove that one.
	}
	return fmt.Errorf("remove pod %s: name still contested after %d attempts", name, ensureAttempts)
}

// deleteAndWait deletes this pod (by uid: not a newer pod of the same
// name) and waits until the name no longer holds it.
func (e *Engine) deleteAndWait(ctx context.Context, pod *corev1.Pod) error {
	lost := e.status(pod).Reason == ReasonNodeLost
	if err := e.delete(ctx, pod, lost); err != nil {
		return err
	}
	bound := gracePeriod(pod) + settleSlack
	if lost {
		bound = settleSlack
	}
	return e.waitFor(ctx, pod.Name, bound, "go", func(p *corev1.Pod) bool { return p == nil || p.UID != pod.UID })
}

// delete deletes pod by uid; now means without a grace period (the API
// object goes at once; the kubelet, if there is one, kills the container
// when it learns of it). Not found is success; a pod of the same name but
// another uid is a conflict.
func (e *Engine) delete(ctx context.Context, pod *corev1.Pod, now bool) error {
	opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}}
	if now {
		opts.GracePeriodSeconds = new(int64(0))
	}
	err := e.cs.CoreV1().Pods(e.cfg.Namespace).Delete(ctx, pod.Name, opts)
	switch {
	case err == nil:
		e.log.Info("deleted pod", "pod", pod.Name, "uid", pod.UID, "immediately", now)
		return nil
	case apierrors.IsNotFound(err):
		return nil
	}
	return fmt.Errorf("delete pod %s: %w", pod.Name, err)
}

// waitFor waits, for up to bound, until done holds for the pod called
// name as getPod reads it (nil: not found), so that the cache agrees when
// it returns.
func (e *Engine) waitFor(ctx context.Context, name string, bound time.Duration, what string, done func(*corev1.Pod) bool) error {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	backoff := wait.Backoff{Min: 20 * time.Millisecond, Max: 500 * time.Millisecond}
	for {
		pod, err := e.getPod(ctx, name)
		switch {
		case errors.Is(err, workload.ErrNotFound):
			pod, err = nil, nil
		case err != nil && ctx.Err() == nil:
			e.log.Debug("wait for pod", "pod", name, "error", err)
		}
		if err == nil && done(pod) {
			return nil
		}
		if err := wait.Sleep(ctx, backoff.Next()); err != nil {
			return fmt.Errorf("wait for pod %s to %s: %w", name, what, err)
		}
	}
}

// gracePeriod is how long the kubelet gives the pod's container between
// SIGTERM and SIGKILL.
func gracePeriod(pod *corev1.Pod) time.Duration {
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return corev1.DefaultTerminationGracePeriodSeconds * time.Second
}

// List reports every pod labelled managed-by=labd in the namespace, of
// any installation, from the cache once it has synced.
func (e *Engine) List(ctx context.Context) ([]workload.Status, error) {
	pods, err := e.listPods(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]workload.Status, 0, len(pods))
	for _, p := range pods {
		out = append(out, e.status(p))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// listPods lists the pods labelled managed-by=labd in the namespace, from
// the cache once it has synced, else from the API server.
func (e *Engine) listPods(ctx context.Context) ([]*corev1.Pod, error) {
	if e.podsSynced() {
		pods, err := e.pods.Pods(e.cfg.Namespace).List(managedLabels)
		if err != nil {
			return nil, fmt.Errorf("list pods: %w", err)
		}
		return pods, nil
	}
	list, err := e.cs.CoreV1().Pods(e.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: managedSelector})
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	pods := make([]*corev1.Pod, 0, len(list.Items))
	for i := range list.Items {
		pods = append(pods, &list.Items[i])
	}
	return pods, nil
}

// Logs returns the last lines of the lab container's output (stdout and
// stderr, in the order written) from the pod log API, at most its last 4
// MiB; lines <= 0 means all. A container that has not started has no
// output yet: "". Nor has, as far as anyone can read, a pod whose node is
// lost: its output is on that node, and the API server would only wait
// for a kubelet that does not answer (the controller's clean-up of the
// lab would fail, again and again, and never remove the pod).
// workload.ErrNotFound if there is no such pod.
func (e *Engine) Logs(ctx context.Context, name string, lines int) (string, error) {
	if pod, err := e.getPod(ctx, name); err == nil && e.status(pod).Reason == ReasonNodeLost {
		return "", nil
	}
	opts := &corev1.PodLogOptions{Container: ContainerName}
	if lines > 0 {
		opts.TailLines = new(int64(lines))
	}
	rc, err := e.cs.CoreV1().Pods(e.cfg.Namespace).GetLogs(name, opts).Stream(ctx)
	switch {
	case apierrors.IsNotFound(err):
		return "", fmt.Errorf("pod logs %s: %w", name, workload.ErrNotFound)
	case apierrors.IsBadRequest(err) && strings.Contains(err.Error(), "waiting to start"):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("pod logs %s: %w", name, err)
	}
	defer rc.Close()
	buf := workload.NewTail(workload.MaxLogBytes)
	if _, err := io.Copy(buf, rc); err != nil {
		return "", fmt.Errorf("pod logs %s: %w", name, err)
	}
	return buf.String(), nil
}
