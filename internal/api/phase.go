package api

import (
	"fmt"
	"strings"
	"time"
)

// Phase is where a lab is in its life.
type Phase string

// The phases. COMPLETED and FAILED are terminal.
const (
	PhasePending      Phase = "PENDING"
	PhaseProvisioning Phase = "PROVISIONING"
	PhaseRunning      Phase = "RUNNING"
	PhaseCompleted    Phase = "COMPLETED"
	PhaseFailed       Phase = "FAILED"
	PhaseTimeout      Phase = "TIMEOUT"
)

// Phases lists every phase in lifecycle order.
var Phases = []Phase{PhasePending, PhaseProvisioning, PhaseRunning, PhaseCompleted, PhaseFailed, PhaseTimeout}

// transitions is the whole state machine: the one place that says which
// phase may follow which.
var transitions = map[Phase][]Phase{
	PhasePending:      {PhaseProvisioning, PhaseFailed},
	PhaseProvisioning: {PhaseRunning, PhaseFailed},
	PhaseRunning:      {PhaseCompleted, PhaseFailed, PhaseTimeout},
	PhaseTimeout:      {PhaseCompleted, PhaseFailed},
	PhaseCompleted:    nil,
	PhaseFailed:       nil,
}

// ParsePhase accepts a phase in any letter case.
func ParsePhase(s string) (Phase, error) {
	p := Phase(strings.ToUpper(strings.TrimSpace(s)))
	if _, ok := transitions[p]; !ok {
		return "", fmt.Errorf("unknown phase %q (want one of %s)", s, phaseNames())
	}
	return p, nil
}

func phaseNames() string {
	names := make([]string, len(Phases))
	for i, p := range Phases {
		names[i] = string(p)
	}
	return strings.Join(names, ", ")
}

// Valid reports whether p is a known phase.
func (p Phase) Valid() bool { _, ok := transitions[p]; return ok }

// Terminal reports whether no phase can follow p.
func (p Phase) Terminal() bool { return p.Valid() && len(transitions[p]) == 0 }

// Finished reports whether the lab's run is over or ending: it no longer
// needs an allocation once its container is gone.
func (p Phase) Finished() bool {
	return p == PhaseCompleted || p == PhaseFailed || p == PhaseTimeout
}

// CanTransitionTo reports whether the state machine allows p -> to.
func (p Phase) CanTransitionTo(to Phase) bool {
	for _, x := range transitions[p] {
		if x == to {
			return true
		}
	}
	return false
}

// CheckTransition returns a Conflict error for a transition the state
// machine forbids. Staying in the same phase is not a transition.
func CheckTransition(from, to Phase) error {
	if from == to {
		return nil
	}
	if !to.Valid() {
		return Errorf(EINVALID, "unknown phase %q", to)
	}
	if !from.CanTransitionTo(to) {
		return Errorf(ECONFLICT, "invalid phase transition %s -> %s", from, to)
	}
	return nil
}

// Transition moves the lab to phase to, records the transition with its
// reason and time, and updates the conditions that follow from the phase.
// A transition the state machine forbids is an error and changes nothing.
func (l *LabInstanceRequest) Transition(to Phase, reason, message string, at time.Time) error {
	from := l.Status.Phase
	if from == to {
		return nil
	}
	if err := CheckTransition(from, to); err != nil {
		return err
	}
	at = at.UTC()
	l.Status.Phase = to
	l.Status.Transitions = append(l.Status.Transitions, Transition{From: from, To: to, Reason: reason, At: at})
	if from == PhasePending {
		l.SetCondition(Condition{Type: ConditionScheduled, Status: ConditionTrue, Reason: reason, Message: message}, at)
	}
	ready := ConditionFalse
	if to == PhaseRunning {
		ready = ConditionTrue
	}
	l.SetCondition(Condition{Type: ConditionReady, Status: ready, Reason: reason, Message: message}, at)
	return nil
}

// SetCondition adds or updates the condition of c.Type and reports whether
// anything changed. LastTransitionTime moves only when the status flips, so
// that repeating a condition does not produce a write.
func (l *LabInstanceRequest) SetCondition(c Condition, at time.Time) bool {
	for i := range l.Status.Conditions {
		old := &l.Status.Conditions[i]
		if old.Type != c.Type {
			continue
		}
		if old.Status == c.Status && old.Reason == c.Reason && old.Message == c.Message {
			return false
		}
		if old.Status != c.Status {
			old.LastTransitionTime = at.UTC()
		}
		old.Status, old.Reason, old.Message = c.Status, c.Reason, c.Message
		return true
	}
	c.LastTransitionTime = at.UTC()
	l.Status.Conditions = append(l.Status.Conditions, c)
	return true
}

// Condition returns the condition of type t, or nil.
func (l *LabInstanceRequest) Condition(t string) *Condition {
	for i := range l.Status.Conditions {
		if l.Status.Conditions[i].Type == t {
			return &l.Status.Conditions[i]
		}
	}
	return nil
}
