package reconcile

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// request is what a lab reserves while it holds an allocation.
func request(lab *api.LabInstanceRequest) workload.Resources {
	rl := lab.Spec.ResourceLimits
	if rl == nil {
		rl = &api.ResourceLimits{CPU: api.DefaultCPU, Memory: api.DefaultMemory}
	}
	cpu, _ := api.ParseCPU(rl.CPU)
	mem, _ := api.ParseMemory(rl.Memory)
	return workload.Resources{MilliCPU: cpu, MemoryBytes: mem}
}

// holdsAllocation reports whether a lab's resources are reserved: from
// admission until it finishes.
func holdsAllocation(p api.Phase) bool {
	return p == api.PhaseProvisioning || p == api.PhaseRunning || p == api.PhaseTimeout
}

// capacityView is what admission looks at: the host's capacity, what the
// labs holding allocations use, and the labs waiting to start.
type capacityView struct {
	Capacity workload.Resources
	Used     workload.Resources
	// Waiting are PENDING labs whose start time has come, first come first.
	Waiting []*api.LabInstanceRequest
}

// admission is the outcome of admit.
type admission struct {
	admit   bool
	never   bool // the lab asks for more than the whole host
	message string
}

// admit decides whether lab may start now, first come first served: a lab
// starts only when every lab that became eligible before it has started,
// so a big lab is not starved by a stream of small ones. Pure.
func admit(lab *api.LabInstanceRequest, v capacityView) admission {
	need := request(lab)
	if !need.Fits(v.Capacity) {
		return admission{never: true, message: fmt.Sprintf("asks for %s but the host has only %s", need, v.Capacity)}
	}
	free := v.Capacity.Sub(v.Used)
	var ahead []string
	for _, w := range v.Waiting {
		if w.Metadata.UID == lab.Metadata.UID {
			break
		}
		ahead = append(ahead, w.Key().String())
	}
	if len(ahead) > 0 {
		return admission{message: fmt.Sprintf("waiting for capacity: %d lab(s) queued before it (%s)", len(ahead), strings.Join(firstN(ahead, 3), ", "))}
	}
	if !need.Fits(free) {
		return admission{message: fmt.Sprintf("waiting for capacity: needs %s, free %s", need, free)}
	}
	return admission{admit: true, message: fmt.Sprintf("allocated %s", need)}
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], "...")
	}
	return s
}

// eligibleOrder sorts waiting labs first come first served: by the time
// they became eligible (their scheduled start, else creation), then uid.
func eligibleOrder(labs []*api.LabInstanceRequest) {
	slices.SortFunc(labs, func(a, b *api.LabInstanceRequest) int {
		if c := eligibleAt(a).Compare(eligibleAt(b)); c != 0 {
			return c
		}
		return strings.Compare(a.Metadata.UID, b.Metadata.UID)
	})
}

func eligibleAt(l *api.LabInstanceRequest) time.Time {
	if t, err := api.ParseStartTime(l.Spec.ScheduledStartTime); err == nil && !t.IsZero() {
		if l.Metadata.CreationTimestamp == nil || t.After(*l.Metadata.CreationTimestamp) {
			return t
		}
	}
	if l.Metadata.CreationTimestamp != nil {
		return *l.Metadata.CreationTimestamp
	}
	return time.Time{}
}

// eligible reports whether a PENDING lab may start at now (ignoring capacity).
func eligible(l *api.LabInstanceRequest, now time.Time) bool {
	if l.Status.Phase != api.PhasePending || l.Metadata.DeletionTimestamp != nil {
		return false
	}
	if _, ok := l.Metadata.Annotations[api.AnnotationStartRequested]; ok {
		return true
	}
	t, err := api.ParseStartTime(l.Spec.ScheduledStartTime)
	return err == nil && !t.After(now)
}
