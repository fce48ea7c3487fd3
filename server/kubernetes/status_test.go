package kubernetes

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/labrm/terraform-provider-lab/server/workload"
)

var (
	t0      = time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
	started = metav1.NewTime(t0.Add(-10 * time.Minute))
	ended   = metav1.NewTime(t0.Add(-time.Minute))
)

// pod builds a lab pod on node "n1" in phase, with its container in cs.
func pod(phase corev1.PodPhase, cs corev1.ContainerState, conds ...corev1.PodCondition) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "lab-u1", UID: "pod-uid", CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour)),
			Labels:      map[string]string{LabelPrefix + "resource-uid": "u1", "app": "other"},
			Annotations: map[string]string{LabelPrefix + "student": "ada@uni.edu"},
		},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: ContainerName, Image: "img:1"}}},
		Status: corev1.PodStatus{
			Phase: phase, PodIP: "10.0.0.7", Conditions: conds,
			ContainerStatuses: []corev1.ContainerStatus{{Name: ContainerName, State: cs}},
		},
	}
	return p
}

func running() corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}
}

func waiting(reason, msg string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
}

func terminated(code int32, reason, msg string) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: code, Reason: reason, Message: msg, StartedAt: started, FinishedAt: ended}}
}

func node(ready corev1.ConditionStatus, since time.Duration) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: ready, LastTransitionTime: metav1.NewTime(t0.Add(-since)),
		}}},
	}
}

var (
	readyCond      = corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue}
	notReadyCond   = corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse}
	unschedulableC = corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/1 nodes are available: 1 Insufficient cpu."}
	healthy        = nodeView{Known: true, Node: node(corev1.ConditionTrue, time.Hour), Timeout: time.Minute}
	withReason     = func(p *corev1.Pod, reason, msg string) *corev1.Pod {
		p.Status.Reason, p.Status.Message = reason, msg
		return p
	}
	withoutNode     = func(p *corev1.Pod) *corev1.Pod { p.Spec.NodeName = ""; p.Status.ContainerStatuses = nil; return p }
	withoutStatuses = func(p *corev1.Pod) *corev1.Pod { p.Status.ContainerStatuses = nil; return p }
	deleting        = func(p *corev1.Pod) *corev1.Pod { p.DeletionTimestamp = &ended; return p }
)

func TestStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		pod       *corev1.Pod
		node      nodeView
		state     workload.State
		reason    string
		message   string // substring; "" means none
		exit      int
		oom       bool
		readiness workload.Readiness
		detail    string
	}{
		{"unschedulable", withoutNode(pod(corev1.PodPending, corev1.ContainerState{}, unschedulableC)), nodeView{Timeout: time.Minute},
			workload.Pending, "Unschedulable", "Insufficient cpu", 0, false, workload.NotReady, "Pending/Unschedulable"},
		{"creating", pod(corev1.PodPending, waiting("ContainerCreating", "")), healthy,
			workload.Pending, "ContainerCreating", "", 0, false, workload.NotReady, "Pending/ContainerCreating"},
		{"image never pulled", pod(corev1.PodPending, waiting("ErrImageNeverPull", `Container image "x" is not present with pull policy of Never`)), healthy,
			workload.Pending, "ErrImageNeverPull", "not present", 0, false, workload.NotReady, "Pending/ErrImageNeverPull"},
		{"running, not ready", pod(corev1.PodRunning, running(), notReadyCond), healthy,
			workload.Running, "", "", 0, false, workload.NotReady, "Running"},
		{"running, ready", pod(corev1.PodRunning, running(), readyCond), healthy,
			workload.Running, "", "", 0, false, workload.Ready, "Running"},
		{"exit 0, a message is no failure", pod(corev1.PodSucceeded, terminated(0, "Completed", "all done")), healthy,
			workload.Exited, "Completed", "", 0, false, workload.NotReady, "Succeeded/Completed"},
		{"exit 3 with its termination message", pod(corev1.PodFailed, terminated(3, "Error", "bad input")), healthy,
			workload.Exited, "Error", "bad input", 3, false, workload.NotReady, "Failed/Error"},
		{"out of memory", pod(corev1.PodFailed, terminated(137, "OOMKilled", "")), healthy,
			workload.Exited, "OOMKilled", "", 137, true, workload.NotReady, "Failed/OOMKilled"},
		{"terminated, phase not updated yet", pod(corev1.PodRunning, terminated(2, "Error", "x"), readyCond), healthy,
			workload.Exited, "Error", "x", 2, false, workload.NotReady, "Running/Error"},
		{"stopped through the deadline", withReason(pod(corev1.PodFailed, terminated(143, "Error", "")), "DeadlineExceeded", "Pod was active on the node longer than the specified deadline"), healthy,
			workload.Exited, ReasonStopped, "", 143, false, workload.NotReady, "Failed/Stopped"},
		{"evicted, no container exit", withReason(withoutStatuses(pod(corev1.PodFailed, corev1.ContainerState{})), "Evicted", "The node was low on resource: memory."), healthy,
			workload.Exited, ReasonEvicted, "evicted: The node was low on resource: memory.", -1, false, workload.NotReady, "Failed/Evicted"},
		{"rejected by the kubelet", withReason(withoutStatuses(pod(corev1.PodFailed, corev1.ContainerState{})), "OutOfcpu", "Pod was rejected: Node didn't have enough resource: cpu"), healthy,
			workload.Exited, "OutOfcpu", "enough resource: cpu", -1, false, workload.NotReady, "Failed/OutOfcpu"},
		{"failed without anything said", withoutStatuses(pod(corev1.PodFailed, corev1.ContainerState{})), healthy,
			workload.Exited, "", "failed without a container exit", -1, false, workload.NotReady, "Failed"},
		{"being deleted", deleting(pod(corev1.PodRunning, running(), readyCond)), healthy,
			workload.Exited, ReasonTerminating, "being deleted", -1, false, workload.NotReady, "Running/Terminating"},
		{"node NotReady within the bound", pod(corev1.PodRunning, running(), readyCond), nodeView{Known: true, Node: node(corev1.ConditionFalse, 30*time.Second), Timeout: time.Minute},
			workload.Running, "", "", 0, false, workload.Ready, "Running"},
		{"node NotReady past the bound", pod(corev1.PodRunning, running(), readyCond), nodeView{Known: true, Node: node(corev1.ConditionFalse, 2*time.Minute), Timeout: time.Minute},
			workload.Exited, ReasonNodeLost, "node n1 has been NotReady since 2026-11-25T19:58:00Z, longer than 1m0s", -1, false, workload.NotReady, "Running/NodeLost"},
		{"node Unknown past the bound", pod(corev1.PodPending, waiting("ContainerCreating", "")), nodeView{Known: true, Node: node(corev1.ConditionUnknown, time.Minute), Timeout: time.Minute},
			workload.Exited, ReasonNodeLost, "node n1 has been Unknown (its kubelet stopped reporting)", -1, false, workload.NotReady, "Pending/NodeLost"},
		{"node gone", pod(corev1.PodRunning, running()), nodeView{Known: true, Timeout: time.Minute},
			workload.Exited, ReasonNodeLost, "node n1 no longer exists", -1, false, workload.NotReady, "Running/NodeLost"},
		{"node cache not synced: no verdict", pod(corev1.PodRunning, running()), nodeView{Timeout: time.Minute},
			workload.Running, "", "", 0, false, workload.NotReady, "Running"},
		{"ended before its node was lost", pod(corev1.PodSucceeded, terminated(0, "Completed", "")), nodeView{Known: true, Timeout: time.Minute},
			workload.Exited, "Completed", "", 0, false, workload.NotReady, "Succeeded/Completed"},
	} {
		st := status(tc.pod, tc.node, t0)
		if st.State != tc.state || st.Reason != tc.reason || st.ExitCode != tc.exit || st.OOMKilled != tc.oom ||
			st.Readiness != tc.readiness || st.Detail != tc.detail {
			t.Errorf("%s: status = state %s reason %q exit %d oom %v readiness %q detail %q; want %s %q %d %v %q %q",
				tc.name, st.State, st.Reason, st.ExitCode, st.OOMKilled, st.Readiness, st.Detail,
				tc.state, tc.reason, tc.exit, tc.oom, tc.readiness, tc.detail)
		}
		if (tc.message == "") != (st.Message == "") || !strings.Contains(st.Message, tc.message) {
			t.Errorf("%s: message %q, want one containing %q", tc.name, st.Message, tc.message)
		}
		if st.Name != "lab-u1" || st.ID != "pod-uid" || st.Image != "img:1" || st.Address != tc.pod.Status.PodIP ||
			!st.Created.Equal(t0.Add(-time.Hour)) {
			t.Errorf("%s: identity %+v", tc.name, st)
		}
		if len(st.Labels) != 2 || st.Labels["resource-uid"] != "u1" || st.Labels["student"] != "ada@uni.edu" {
			t.Errorf("%s: labels %v, want the workload's own two", tc.name, st.Labels)
		}
		if st.State == workload.Running && !st.StartedAt.Equal(started.Time) {
			t.Errorf("%s: StartedAt %s", tc.name, st.StartedAt)
		}
	}
}

func TestImageFailure(t *testing.T) {
	t.Parallel()
	for reason, want := range map[string]bool{
		"ErrImagePull": true, "ImagePullBackOff": true, "ErrImageNeverPull": true, "InvalidImageName": true,
		"ContainerCreating": false, "ImageInspectError": false, "CreateContainerConfigError": false,
	} {
		r, msg, ok := imageFailure(pod(corev1.PodPending, waiting(reason, "why")))
		if ok != want || (ok && (r != reason || msg != "why")) {
			t.Errorf("imageFailure(%s) = %q, %q, %v; want %v", reason, r, msg, ok, want)
		}
	}
	if _, _, ok := imageFailure(pod(corev1.PodRunning, running())); ok {
		t.Error("a running container is an image failure")
	}
}

// TestStatusPlacementAndEndpoint: a pod no node has taken is Unplaced
// (whatever the scheduler says, or before it says anything), one on a
// node is not; the app's endpoint is the pod's IP and the app port; a
// container that never started has no start time.
func TestStatusPlacementAndEndpoint(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		pod      *corev1.Pod
		state    workload.State
		unplaced bool
		reason   string
	}{
		{"unschedulable", withoutNode(pod(corev1.PodPending, corev1.ContainerState{}, unschedulableC)), workload.Pending, true, "Unschedulable"},
		{"not tried yet", withoutNode(pod(corev1.PodPending, corev1.ContainerState{})), workload.Pending, true, ""},
		{"bound, being created", pod(corev1.PodPending, waiting("ContainerCreating", "")), workload.Pending, false, "ContainerCreating"},
		{"running", pod(corev1.PodRunning, running(), readyCond), workload.Running, false, ""},
		{"deleted before a node took it", deleting(withoutNode(pod(corev1.PodPending, corev1.ContainerState{}, unschedulableC))), workload.Exited, false, ReasonTerminating},
	} {
		st := status(tc.pod, healthy, t0)
		if st.State != tc.state || st.Unplaced != tc.unplaced || st.Reason != tc.reason {
			t.Errorf("%s: state %s, unplaced %v, reason %q; want %s, %v, %q", tc.name, st.State, st.Unplaced, st.Reason, tc.state, tc.unplaced, tc.reason)
		}
	}

	p := pod(corev1.PodRunning, running(), readyCond)
	if st := status(p, healthy, t0); st.Port != 0 || st.Endpoint != "" {
		t.Errorf("no app port: port %d, endpoint %q", st.Port, st.Endpoint)
	}
	p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9100}, {Name: appPort, ContainerPort: 8080}}
	if st := status(p, healthy, t0); st.Port != 8080 || st.Endpoint != "10.0.0.7:8080" {
		t.Errorf("app port: port %d, endpoint %q; want 8080 at 10.0.0.7:8080", st.Port, st.Endpoint)
	}
	p.Status.PodIP = ""
	if st := status(p, healthy, t0); st.Port != 8080 || st.Endpoint != "" {
		t.Errorf("no IP yet: port %d, endpoint %q", st.Port, st.Endpoint)
	}

	epoch := metav1.NewTime(time.Unix(0, 0))
	never := pod(corev1.PodFailed, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: 128, Reason: "StartError", Message: "exec: \"nope\": executable file not found", StartedAt: epoch, FinishedAt: epoch}})
	if st := status(never, healthy, t0); !st.StartedAt.IsZero() || !st.FinishedAt.IsZero() || st.ExitCode != 128 || st.Reason != "StartError" {
		t.Errorf("never started: %+v, want no start or finish time", st)
	}
}
