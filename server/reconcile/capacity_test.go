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
		Metadata: api.ObjectMeta{Name: uid, Namespace: "default", UID: uid, CreationTimestamp: &created},
		Spec:     api.Spec{ResourceLimits: &api.ResourceLimits{CPU: cpu, Memory: mem}},
		Status:   api.Status{Phase: api.PhasePending},
	}
}

func TestAdmit(t *testing.T) {
	t.Parallel()
	host := workload.Resources{MilliCPU: 2000, MemoryBytes: 4 << 30}
	a := sized("a", "1", "1Gi", t0)
	b := sized("b", "1", "1Gi", t0.Add(time.Second))
	big := sized("big", "2", "4Gi", t0.Add(-time.Second))
	huge := sized("huge", "4", "1Gi", t0)
	cases := []struct {
		name    string
		lab     *api.LabInstanceRequest
		view    capacityView
		admit   bool
		never   bool
		message string
	}{
		{"empty host admits", a, capacityView{Capacity: host, Waiting: []*api.LabInstanceRequest{a}}, true, false, "allocated cpu 1, memory 1Gi"},
		{"full cpu waits", a, capacityView{Capacity: host, Used: workload.Resources{MilliCPU: 2000, MemoryBytes: 0}, Waiting: []*api.LabInstanceRequest{a}}, false, false, "needs cpu 1, memory 1Gi, free cpu 0, memory 4Gi"},
		{"full memory waits", a, capacityView{Capacity: host, Used: workload.Resources{MilliCPU: 0, MemoryBytes: 4 << 30}, Waiting: []*api.LabInstanceRequest{a}}, false, false, "needs"},
		{"exact fit admits", a, capacityView{Capacity: host, Used: workload.Resources{MilliCPU: 1000, MemoryBytes: 3 << 30}, Waiting: []*api.LabInstanceRequest{a}}, true, false, "allocated"},
		{"second in line waits behind first", b, capacityView{Capacity: host, Waiting: []*api.LabInstanceRequest{a, b}}, false, false, "1 lab(s) queued before it (default/a)"},
		{"small lab does not overtake a big one", a, capacityView{Capacity: host, Used: workload.Resources{MilliCPU: 1000, MemoryBytes: 0}, Waiting: []*api.LabInstanceRequest{big, a}}, false, false, "queued before it (default/big)"},
		{"more than the host never fits", huge, capacityView{Capacity: host, Waiting: []*api.LabInstanceRequest{huge}}, false, true, "asks for cpu 4, memory 1Gi but the host has only cpu 2, memory 4Gi"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := admit(tc.lab, tc.view)
			if got.admit != tc.admit || got.never != tc.never || !strings.Contains(got.message, tc.message) {
				t.Fatalf("admit = %+v, want admit=%v never=%v message containing %q", got, tc.admit, tc.never, tc.message)
			}
		})
	}
}

func TestEligibleOrder(t *testing.T) {
	t.Parallel()
	early := sized("early", "1", "1Gi", t0)
	late := sized("late", "1", "1Gi", t0.Add(time.Minute))
	// Created first but scheduled later: it becomes eligible after "late".
	scheduled := sized("scheduled", "1", "1Gi", t0.Add(-time.Hour))
	scheduled.Spec.ScheduledStartTime = t0.Add(2 * time.Minute).Format(time.RFC3339)
	labs := []*api.LabInstanceRequest{scheduled, late, early}
	eligibleOrder(labs)
	if labs[0] != early || labs[1] != late || labs[2] != scheduled {
		t.Fatalf("order = %s %s %s", labs[0].Metadata.UID, labs[1].Metadata.UID, labs[2].Metadata.UID)
	}
	if eligible(scheduled, t0) || !eligible(scheduled, t0.Add(3*time.Minute)) {
		t.Fatal("eligible ignores scheduled_start_time")
	}
}
