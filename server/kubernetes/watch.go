package kubernetes

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/labrm/terraform-provider-lab/server/workload"
)

// Events delivers a workload.EventChanged for each lab pod that changed:
// created, updated (phase, readiness, container state), deleted, or
// whose node changed readiness or has now been lost for NodeLostTimeout.
// An event names the pod and carries its workload labels (the lab's
// namespace and name), as last seen. Pending events are coalesced per
// pod; the channel is closed when the engine is. It is the controller's
// reconcile.Config.EngineEvents.
func (e *Engine) Events() <-chan workload.Event { return e.out }

// deliver hands queued changes to the reader of Events, one at a time.
// The queue coalesces a name that changes again before it is delivered,
// so an absent or slow reader costs at most one entry per pod.
func (e *Engine) deliver(ctx context.Context) {
	defer close(e.out)
	for {
		name, shutdown := e.changes.Get()
		if shutdown {
			return
		}
		ev := workload.Event{Kind: workload.EventChanged, Name: name, Labels: e.takeLabels(name), Time: e.now()}
		select {
		case e.out <- ev:
			e.changes.Done(name)
		case <-ctx.Done():
			e.changes.Done(name)
			return
		}
	}
}

// takeLabels is the labels last seen on the pod called name, forgotten
// once delivered (a deleted pod's are known only from its last state).
func (e *Engine) takeLabels(name string) map[string]string {
	e.labelsMu.Lock()
	defer e.labelsMu.Unlock()
	l := e.labels[name]
	delete(e.labels, name)
	return l
}

// watch registers the informers' handlers. Called before they start.
func (e *Engine) watch(pods, nodes cache.SharedIndexInformer) {
	// The cache keeps what status reads, not who wrote which field.
	stripManagedFields := func(obj any) (any, error) {
		if m, ok := obj.(metav1.Object); ok {
			m.SetManagedFields(nil)
		}
		return obj, nil
	}
	for _, inf := range []cache.SharedIndexInformer{pods, nodes} {
		_ = inf.SetTransform(stripManagedFields)
		_ = inf.SetWatchErrorHandler(func(r *cache.Reflector, err error) {
			e.log.Warn("kubernetes watch failed; it restarts with backoff", "watch", r.TypeDescription(), "error", err)
		})
	}
	_ = pods.AddIndexers(cache.Indexers{indexByNode: func(obj any) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
			return []string{p.Spec.NodeName}, nil
		}
		return nil, nil
	}})
	_, _ = pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { e.notifyPod(obj) },
		UpdateFunc: func(old, cur any) {
			if o, c := old.(*corev1.Pod), cur.(*corev1.Pod); o.ResourceVersion != c.ResourceVersion {
				e.notifyPod(cur)
			}
		},
		DeleteFunc: func(obj any) { e.notifyPod(obj) },
	})
	_, _ = nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { e.nodeChanged(nil, obj) },
		UpdateFunc: func(old, cur any) {
			e.nodeChanged(old, cur)
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if n, ok := obj.(*corev1.Node); ok {
				e.stopTimer(n.Name)
				e.notifyNode(n.Name)
			}
		},
	})
}

func (e *Engine) notifyPod(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if p, ok := obj.(*corev1.Pod); ok {
		e.labelsMu.Lock()
		e.labels[p.Name] = workloadLabels(p)
		e.labelsMu.Unlock()
		e.changes.Add(p.Name)
	}
}

// notifyNode queues every lab pod bound to the node.
func (e *Engine) notifyNode(node string) {
	objs, err := e.podIndex.ByIndex(indexByNode, node)
	if err != nil {
		return
	}
	for _, obj := range objs {
		e.notifyPod(obj)
	}
}

// readiness is a node's Ready condition: its status and since when.
func readiness(n *corev1.Node) (corev1.ConditionStatus, time.Time) {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status, c.LastTransitionTime.Time
		}
	}
	return corev1.ConditionUnknown, n.CreationTimestamp.Time
}

// nodeChanged notifies a node's pods when its readiness changes, and arms
// a timer to notify them again when a node that is not Ready has been so
// for NodeLostTimeout: then status reports them lost, and nothing else
// would change to say so.
func (e *Engine) nodeChanged(old, cur any) {
	n, ok := cur.(*corev1.Node)
	if !ok {
		return
	}
	status, since := readiness(n)
	if o, ok := old.(*corev1.Node); ok {
		if ostatus, osince := readiness(o); ostatus == status && osince.Equal(since) {
			return
		}
		e.notifyNode(n.Name)
	}
	if status == corev1.ConditionTrue {
		e.stopTimer(n.Name)
		return
	}
	wait := since.Add(e.cfg.NodeLostTimeout).Sub(e.now()) + 10*time.Millisecond
	name := n.Name
	e.timersMu.Lock()
	defer e.timersMu.Unlock()
	if e.closed {
		return
	}
	if t := e.timers[name]; t != nil {
		t.Stop()
	}
	e.timers[name] = time.AfterFunc(max(wait, 0), func() { e.notifyNode(name) })
}

func (e *Engine) stopTimer(node string) {
	e.timersMu.Lock()
	defer e.timersMu.Unlock()
	if t := e.timers[node]; t != nil {
		t.Stop()
		delete(e.timers, node)
	}
}

func (e *Engine) stopTimers() {
	e.timersMu.Lock()
	defer e.timersMu.Unlock()
	e.closed = true
	for name, t := range e.timers {
		t.Stop()
		delete(e.timers, name)
	}
}
