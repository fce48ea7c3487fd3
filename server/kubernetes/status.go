package kubernetes

import (
	"fmt"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/labrm/terraform-provider-lab/server/workload"
)

// The kubelet's reasons (a waiting container's) for an image it cannot
// have: permanent for a lab, as a failed pull is on Docker.
var imageFailures = map[string]bool{
	"ErrImagePull":      true,
	"ImagePullBackOff":  true,
	"ErrImageNeverPull": true,
	"InvalidImageName":  true,
}

// Reasons this engine gives in workload.Status.Reason besides the
// kubelet's and the scheduler's own.
const (
	// ReasonNodeLost: the pod's node has not been Ready for longer than
	// Config.NodeLostTimeout, or no longer exists.
	ReasonNodeLost = workload.ReasonNodeLost
	// ReasonStopped: Stop ended the pod (its active deadline, set to end
	// it now, was exceeded).
	ReasonStopped = "Stopped"
	// ReasonEvicted: the kubelet evicted the pod (node pressure) or the
	// API evicted it.
	ReasonEvicted = workload.ReasonEvicted
	// ReasonTerminating: the pod is being deleted (kubectl says
	// Terminating); not by the controller, when its lab has not ended.
	ReasonTerminating = workload.ReasonRemoved
)

// nodeView is what status needs to know of the node a pod is bound to.
type nodeView struct {
	Known   bool         // the node cache has synced: a nil Node means the node is gone
	Node    *corev1.Node // nil when not found
	Timeout time.Duration
}

// nodeLost reports whether pod's node has been lost for longer than the
// timeout at now, and says how.
func nodeLost(pod *corev1.Pod, nv nodeView, now time.Time) (string, bool) {
	name := pod.Spec.NodeName
	if name == "" || !nv.Known {
		return "", false
	}
	if nv.Node == nil {
		return fmt.Sprintf("the lab's node %s no longer exists", name), true
	}
	status, since := corev1.ConditionUnknown, nv.Node.CreationTimestamp.Time
	for _, c := range nv.Node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			status, since = c.Status, c.LastTransitionTime.Time
		}
	}
	if status == corev1.ConditionTrue || now.Sub(since) < nv.Timeout {
		return "", false
	}
	word := "NotReady"
	if status == corev1.ConditionUnknown {
		word = "Unknown (its kubelet stopped reporting)"
	}
	return fmt.Sprintf("the lab's node %s has been %s since %s, longer than %s: the lab is lost",
		name, word, since.UTC().Format(time.RFC3339), nv.Timeout), true
}

// labContainer is the status of the pod's lab container, or nil.
func labContainer(pod *corev1.Pod) *corev1.ContainerStatus {
	for i := range pod.Status.ContainerStatuses {
		if pod.Status.ContainerStatuses[i].Name == ContainerName {
			return &pod.Status.ContainerStatuses[i]
		}
	}
	return nil
}

func condition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// imageFailure reports the kubelet's reason and message when the lab
// container waits for an image it cannot have.
func imageFailure(pod *corev1.Pod) (reason, message string, ok bool) {
	cs := labContainer(pod)
	if cs == nil || cs.State.Waiting == nil || !imageFailures[cs.State.Waiting.Reason] {
		return "", "", false
	}
	return cs.State.Waiting.Reason, cs.State.Waiting.Message, true
}

// status reads a workload's status from its pod (see the package doc for
// the mapping). Pure: the node and the time are given.
func status(pod *corev1.Pod, nv nodeView, now time.Time) workload.Status {
	st := workload.Status{
		Name:      pod.Name,
		ID:        string(pod.UID),
		State:     workload.Pending,
		Detail:    string(pod.Status.Phase),
		Created:   pod.CreationTimestamp.UTC(),
		Labels:    workloadLabels(pod),
		Address:   pod.Status.PodIP,
		Readiness: workload.NotReady,
	}
	if len(pod.Spec.Containers) > 0 {
		st.Image = pod.Spec.Containers[0].Image
		for _, p := range pod.Spec.Containers[0].Ports {
			if p.Name == appPort {
				st.Port = int(p.ContainerPort)
			}
		}
	}
	if st.Port > 0 && pod.Status.PodIP != "" {
		st.Endpoint = net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(st.Port))
	}
	if c := condition(pod, corev1.PodReady); c != nil && c.Status == corev1.ConditionTrue {
		st.Readiness = workload.Ready
	}
	cs := labContainer(pod)
	var term *corev1.ContainerStateTerminated
	if cs != nil {
		term = cs.State.Terminated
		if r := cs.State.Running; r != nil {
			st.StartedAt = timeOf(r.StartedAt)
		}
	}
	terminal := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	if msg, lost := nodeLost(pod, nv, now); lost && !terminal {
		st.State, st.Reason, st.Message, st.ExitCode = workload.Exited, ReasonNodeLost, msg, -1
		st.Detail += "/" + ReasonNodeLost
		st.Readiness = workload.NotReady
		return st
	}
	switch {
	case terminal || term != nil:
		exited(&st, pod, term)
	case pod.DeletionTimestamp != nil:
		st.State, st.Reason, st.ExitCode = workload.Exited, ReasonTerminating, -1
		st.Message = "the pod is being deleted"
		st.Detail += "/Terminating"
	case pod.Status.Phase == corev1.PodRunning && cs != nil && cs.State.Running != nil:
		st.State = workload.Running
	default:
		// Not bound to a node: the scheduler has not found it a place.
		st.Unplaced = pod.Spec.NodeName == ""
		if c := condition(pod, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse {
			st.Reason, st.Message = c.Reason, c.Message
		} else if cs != nil && cs.State.Waiting != nil {
			st.Reason, st.Message = cs.State.Waiting.Reason, cs.State.Waiting.Message
		}
		if st.Reason != "" {
			st.Detail += "/" + st.Reason
		}
	}
	if st.State != workload.Running {
		st.Readiness = workload.NotReady // a Ready condition not yet updated
	}
	return st
}

// exited fills in an ended pod: the container's exit if it has one, and
// the pod's own reason (evicted, stopped, rejected by the kubelet) when
// that says more.
func exited(st *workload.Status, pod *corev1.Pod, term *corev1.ContainerStateTerminated) {
	st.State, st.ExitCode = workload.Exited, -1
	if pod.Status.Phase == corev1.PodSucceeded {
		st.ExitCode = 0
	}
	if term != nil {
		st.ExitCode = int(term.ExitCode)
		st.Reason = term.Reason
		st.OOMKilled = term.Reason == "OOMKilled"
		st.StartedAt = timeOf(term.StartedAt)
		st.FinishedAt = timeOf(term.FinishedAt)
		if st.ExitCode != 0 || st.OOMKilled {
			st.Message = term.Message
		}
	}
	switch r := pod.Status.Reason; {
	case r == "DeadlineExceeded":
		// Stop set the deadline: a stopped lab, as a stopped container
		// is on Docker (exit 143 or 137, no message).
		st.Reason, st.Message = ReasonStopped, ""
	case r == ReasonEvicted:
		st.Reason, st.Message = ReasonEvicted, "the pod was evicted: "+pod.Status.Message
	case r != "":
		st.Reason, st.Message = r, pod.Status.Message
	case term == nil && st.ExitCode != 0:
		st.Message = "the pod failed without a container exit"
		if pod.Status.Message != "" {
			st.Message += ": " + pod.Status.Message
		}
	}
	if st.Reason != "" {
		st.Detail += "/" + st.Reason
	}
}

// timeOf is a container's start or finish time, zero when there is none:
// the runtime reports a container that never started as started and
// finished at the Unix epoch.
func timeOf(t metav1.Time) time.Time {
	if t.IsZero() || t.Unix() <= 0 {
		return time.Time{}
	}
	return t.UTC()
}
