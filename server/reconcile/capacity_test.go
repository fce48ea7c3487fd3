package reconcile

import (
	"strings"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

func sized(uid, cpu, mem string, created time.Time) *api.LabInstanceRequest {
	return &api.LabInstanceRequest{
		Metadata: api.ObjectMeta{Name: uid, Namespace: "default", UID: uid, CreationTimestamp: &created, ResourceVersion: 1},
		Spec: api.Spec{StudentEmail: uid + "@u.edu", ResourceLimits: &api.ResourceLimits{CPU: cpu, Memory: mem},
			ResourceRequests: &api.ResourceRequests{CPU: cpu, Memory: mem}},
		Status: api.Status{Phase: api.PhasePending},
	}
}

func TestAdmit(t *testing.T) {
	t.Parallel()
	host := workload.Resources{MilliCPU: 2000, MemoryBytes: 4 << 30}
	one := workload.Resources{MilliCPU: 1000, MemoryBytes: 1 << 30}
	cases := []struct {
		name    string
		need    workload.Resources
		view    queueView
		admit   bool
		never   bool
		message string
	}{
		{"empty host admits the head", one, queueView{Capacity: host, Position: 1, Length: 1}, true, false, "allocated cpu 1, memory 1Gi"},
		{"full cpu: the head waits, saying what is free", one, queueView{Capacity: host, Reserved: workload.Resources{MilliCPU: 2000}, Position: 1, Length: 1}, false, false,
			"position 1 of 1 in the capacity queue: needs cpu 1, memory 1Gi, free cpu 0, memory 4Gi of cpu 2, memory 4Gi"},
		{"full memory: the head waits", one, queueView{Capacity: host, Reserved: workload.Resources{MemoryBytes: 4 << 30}, Position: 1, Length: 3}, false, false, "position 1 of 3"},
		{"exact fit admits", one, queueView{Capacity: host, Reserved: workload.Resources{MilliCPU: 1000, MemoryBytes: 3 << 30}, Position: 1, Length: 1}, true, false, "allocated"},
		{"second in line waits behind the first, room or not", one, queueView{Capacity: host, Position: 2, Length: 2}, false, false,
			"position 2 of 2 in the capacity queue: 1 lab is ahead of it; it needs cpu 1, memory 1Gi"},
		{"a small lab does not overtake a big one", workload.Resources{MilliCPU: 1}, queueView{Capacity: host, Reserved: workload.Resources{MilliCPU: 1000}, Position: 3, Length: 7}, false, false,
			"position 3 of 7 in the capacity queue: 2 labs are ahead of it"},
		{"more than the host never fits", workload.Resources{MilliCPU: 4000, MemoryBytes: 1 << 30}, queueView{Capacity: host, Position: 1, Length: 1}, false, true,
			"asks for cpu 4, memory 1Gi but the host has only cpu 2, memory 4Gi"},
		{"negative free (capacity shrank) reads as 0", one, queueView{Capacity: host, Reserved: workload.Resources{MilliCPU: 3000}, Position: 1, Length: 1}, false, false, "free cpu 0, memory 4Gi"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := admit(tc.need, tc.view)
			if got.admit != tc.admit || got.never != tc.never || !strings.Contains(got.message, tc.message) {
				t.Fatalf("admit = %+v, want admit=%v never=%v message containing %q", got, tc.admit, tc.never, tc.message)
			}
			if !got.admit && !got.never {
				if p, n, ok := api.QueuePosition(got.message); !ok || p != tc.view.Position || n != tc.view.Length {
					t.Fatalf("QueuePosition(%q) = %d, %d, %v", got.message, p, n, ok)
				}
			}
		})
	}
}

func TestQueueOrder(t *testing.T) {
	t.Parallel()
	early := sized("early", "1", "1Gi", t0)
	late := sized("late", "1", "1Gi", t0.Add(time.Minute))
	// Created first but scheduled later: it becomes eligible after "late".
	scheduled := sized("scheduled", "1", "1Gi", t0.Add(-time.Hour))
	scheduled.Spec.ScheduledStartTime = t0.Add(2 * time.Minute).Format(time.RFC3339)
	// Scheduled for tomorrow but started by hand now: eligible from then.
	started := sized("started", "1", "1Gi", t0.Add(-2*time.Hour))
	started.Spec.ScheduledStartTime = t0.Add(24 * time.Hour).Format(time.RFC3339)
	started.Metadata.Annotations = api.StringMap{api.AnnotationStartRequested: t0.Add(30 * time.Second).Format(time.RFC3339)}
	tree := newRankTree(queueLess)
	for _, l := range []*api.LabInstanceRequest{scheduled, late, early, started} {
		tree.Insert(&ledgerEntry{uid: l.Metadata.UID, at: eligibleAt(l)})
	}
	var got []string
	tree.Ascend(0, func(e *ledgerEntry) bool { got = append(got, e.uid); return true })
	if strings.Join(got, " ") != "early started late scheduled" {
		t.Fatalf("order = %v", got)
	}
	if eligible(scheduled, t0) || !eligible(scheduled, t0.Add(3*time.Minute)) || !eligible(started, t0) {
		t.Fatal("eligible ignores scheduled_start_time or the start request")
	}
}

func TestRewriteCondition(t *testing.T) {
	t.Parallel()
	queued := func(p int) api.Condition {
		return api.Condition{Type: api.ConditionScheduled, Status: api.ConditionFalse, Reason: api.ReasonInsufficientCapacity,
			Message: api.QueueMessage(p, 100, "labs are ahead of it")}
	}
	ptr := func(c api.Condition) *api.Condition { return &c }
	cases := []struct {
		name string
		cur  *api.Condition
		next api.Condition
		want bool
	}{
		{"none yet", nil, queued(40), true},
		{"same message", ptr(queued(40)), queued(40), false},
		{"moved up a little", ptr(queued(40)), queued(39), false},
		{"moved up to more than half", ptr(queued(40)), queued(21), false},
		{"halved", ptr(queued(40)), queued(20), true},
		{"reached the head", ptr(queued(3)), queued(1), true},
		{"moved back", ptr(queued(4)), queued(5), true},
		{"other reason", ptr(api.Condition{Type: api.ConditionScheduled, Status: api.ConditionFalse, Reason: "WaitingForStartTime", Message: "x"}), queued(40), true},
		{"head: what is free changed", ptr(api.Condition{Type: api.ConditionScheduled, Status: api.ConditionFalse, Reason: api.ReasonInsufficientCapacity,
			Message: api.QueueMessage(1, 3, "free cpu 0")}), api.Condition{Type: api.ConditionScheduled, Status: api.ConditionFalse,
			Reason: api.ReasonInsufficientCapacity, Message: api.QueueMessage(1, 3, "free cpu 1")}, true},
	}
	for _, tc := range cases {
		if got := rewriteCondition(tc.cur, tc.next); got != tc.want {
			t.Errorf("%s: rewriteCondition = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestLogTail(t *testing.T) {
	t.Parallel()
	if got, cut := logTail("short\n", 64); got != "short\n" || cut {
		t.Fatalf("short output: %q %v", got, cut)
	}
	out := strings.Repeat("line of text\n", 10) // 130 bytes
	got, cut := logTail(out, 30)
	if !cut || got != "line of text\nline of text\n" {
		t.Fatalf("tail at a line boundary: %q %v", got, cut)
	}
	long := strings.Repeat("é", 40) // one line of 80 bytes
	got, cut = logTail(long, 31)
	if !cut || !strings.HasPrefix(got, "é") || len(got) != 30 {
		t.Fatalf("tail of one long line: %q (%d bytes) %v", got, len(got), cut)
	}
}
