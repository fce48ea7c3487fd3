package api

import (
	"testing"
	"time"
)

func TestStateMachine(t *testing.T) {
	t.Parallel()
	allowed := map[[2]Phase]bool{
		{PhasePending, PhaseProvisioning}: true,
		{PhasePending, PhaseFailed}:       true,
		{PhaseProvisioning, PhaseRunning}: true,
		{PhaseProvisioning, PhaseFailed}:  true,
		{PhaseRunning, PhaseCompleted}:    true,
		{PhaseRunning, PhaseFailed}:       true,
		{PhaseRunning, PhaseTimeout}:      true,
		{PhaseTimeout, PhaseCompleted}:    true,
		{PhaseTimeout, PhaseFailed}:       true,
	}
	// Every pair of phases, so that a transition added by mistake fails too.
	for _, from := range Phases {
		for _, to := range Phases {
			if from == to {
				continue
			}
			want := allowed[[2]Phase{from, to}]
			if got := from.CanTransitionTo(to); got != want {
				t.Errorf("%s -> %s allowed = %v, want %v", from, to, got, want)
			}
			l := &LabInstanceRequest{Status: Status{Phase: from}}
			err := l.Transition(to, "Test", "", time.Unix(0, 0))
			if (err == nil) != want {
				t.Errorf("Transition %s -> %s: err = %v, want allowed=%v", from, to, err, want)
			}
			if err != nil {
				if ErrorCode(err) != ECONFLICT || l.Status.Phase != from || len(l.Status.Transitions) != 0 || len(l.Status.Conditions) != 0 {
					t.Errorf("refused %s -> %s changed the lab or has code %q: %+v", from, to, ErrorCode(err), l.Status)
				}
				continue
			}
			tr := l.Status.Transitions
			if l.Status.Phase != to || len(tr) != 1 || tr[0].From != from || tr[0].To != to || tr[0].Reason != "Test" {
				t.Errorf("%s -> %s recorded %+v", from, to, l.Status)
			}
		}
	}
	for _, p := range Phases {
		if want := p == PhaseCompleted || p == PhaseFailed; p.Terminal() != want {
			t.Errorf("%s terminal = %v", p, p.Terminal())
		}
	}
	if err := CheckTransition(PhasePending, "BOGUS"); ErrorCode(err) != EINVALID {
		t.Errorf("unknown phase: %v", err)
	}
}

func TestTransitionConditions(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := &LabInstanceRequest{Status: Status{Phase: PhasePending}}
	l.SetCondition(Condition{Type: ConditionScheduled, Status: ConditionFalse, Reason: "InsufficientCapacity"}, t0)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(l.Transition(PhaseProvisioning, "Scheduled", "", t0.Add(time.Minute)))
	if c := l.Condition(ConditionScheduled); c.Status != ConditionTrue || !c.LastTransitionTime.Equal(t0.Add(time.Minute)) {
		t.Fatalf("Scheduled = %+v", c)
	}
	must(l.Transition(PhaseRunning, "ContainerStarted", "", t0.Add(2*time.Minute)))
	if c := l.Condition(ConditionReady); c.Status != ConditionTrue || !c.LastTransitionTime.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("Ready = %+v", c)
	}
	// Repeating a condition is not a change.
	if l.SetCondition(Condition{Type: ConditionReady, Status: ConditionTrue, Reason: "ContainerStarted"}, t0.Add(time.Hour)) {
		t.Fatal("identical condition reported as a change")
	}
	// A new reason with the same status keeps the transition time.
	l.SetCondition(Condition{Type: ConditionReady, Status: ConditionTrue, Reason: "Other"}, t0.Add(time.Hour))
	if c := l.Condition(ConditionReady); !c.LastTransitionTime.Equal(t0.Add(2 * time.Minute)) {
		t.Fatalf("reason change moved last_transition_time: %+v", c)
	}
	must(l.Transition(PhaseTimeout, "DurationExceeded", "ran 60m", t0.Add(3*time.Hour)))
	if c := l.Condition(ConditionReady); c.Status != ConditionFalse || c.Reason != "DurationExceeded" {
		t.Fatalf("Ready after timeout = %+v", c)
	}
}

func TestParsePhase(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Phase{"running": PhaseRunning, "RUNNING": PhaseRunning, " Pending ": PhasePending} {
		if got, err := ParsePhase(in); err != nil || got != want {
			t.Errorf("ParsePhase(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParsePhase("ready"); err == nil {
		t.Error("ParsePhase(ready) accepted")
	}
}
