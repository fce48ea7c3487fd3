package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// Fuzz targets of the pure rules: merge patches, label selectors and the
// phase state machine. Seeds live in testdata/fuzz/<target>; `make
// fuzz-short` runs each briefly.

// decodePatch decodes a patch as labd's codec hands it over: numbers whole
// or float, JSON objects as maps.
func decodePatch(b []byte) (map[string]any, bool) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if d.Decode(&m) != nil || m == nil {
		return nil, false
	}
	return m, true
}

// FuzzMergePatch: a merge patch of a stored lab never panics, fails only
// with an *Error of a 4xx code, changes nothing when it fails, leaves a
// valid lab when it succeeds, and is idempotent (RFC 7396: applying it
// again changes nothing more).
func FuzzMergePatch(f *testing.F) {
	f.Add([]byte(`{"spec":{"duration_minutes":90}}`))
	f.Add([]byte(`{"metadata":{"labels":{"a":null,"c":"3"},"resource_version":5}}`))
	f.Add([]byte(`{"spec":{"lab_template":"other:1"}}`))
	f.Add([]byte(`{"spec":{"idle_timeout_minutes":30,"security_context":null}}`))
	f.Add([]byte(`{"status":{"phase":"RUNNING"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		patch, ok := decodePatch(data)
		if !ok {
			return
		}
		again, _ := decodePatch(data) // PrepareMergePatch edits its patch
		cur := storedLab()
		before := cur.DeepCopy()
		if _, err := PrepareMergePatch(patch); err != nil {
			wantRefusal(t, err)
			return
		}
		PrepareMergePatch(again)
		if err := ApplyMergePatch(cur, patch); err != nil {
			wantRefusal(t, err)
			if !reflect.DeepEqual(cur, before) {
				t.Fatalf("a refused patch changed the lab: %+v", cur)
			}
			return
		}
		if err := ValidateSpec(&cur.Spec).Err(); err != nil {
			t.Fatalf("an accepted patch left an invalid spec: %v", err)
		}
		once := cur.DeepCopy()
		if err := ApplyMergePatch(cur, again); err != nil {
			t.Fatalf("the same patch, again: %v", err)
		}
		if !reflect.DeepEqual(cur, once) {
			t.Fatalf("not idempotent: %+v then %+v", once, cur)
		}
	})
}

func wantRefusal(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("a refusal that is no *Error: %v", err)
	}
	if s := HTTPStatus(e.Code); s < 400 || s >= 500 {
		t.Fatalf("refused with %d: %v", s, err)
	}
}

// FuzzLabelSelector: a selector parses or is refused, never panics; what
// parses holds only valid keys and values and reads back the same from
// its canonical form.
func FuzzLabelSelector(f *testing.F) {
	for _, s := range []string{"course=cs101", "a=b,c==d", " team = x ,", "app.kubernetes.io/name=lab", "a=1,a=2", "=", "a!=b", "k="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseLabelSelector(s)
		if err != nil {
			return
		}
		var terms []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if ValidateLabelKey(k) != nil || ValidateLabelValue(m[k]) != nil {
				t.Fatalf("%q parsed to an invalid pair %q=%q", s, k, m[k])
			}
			terms = append(terms, k+"="+m[k])
		}
		again, err := ParseLabelSelector(strings.Join(terms, ","))
		if err != nil || !maps.Equal(m, again) {
			t.Fatalf("%q: canonical form %q reads back as %v, %v", s, strings.Join(terms, ","), again, err)
		}
	})
}

// FuzzPhaseMachine drives a lab through any sequence of phase changes:
// Transition agrees with CheckTransition, the phase moves only along the
// table, the history is the path it took, Ready is True exactly while
// RUNNING, and a finished lab never leaves COMPLETED or FAILED.
func FuzzPhaseMachine(f *testing.F) {
	f.Add([]byte{1, 2, 3})       // PROVISIONING, RUNNING, COMPLETED
	f.Add([]byte{1, 2, 5, 3})    // ... TIMEOUT, COMPLETED
	f.Add([]byte{4, 0, 1, 2, 9}) // FAILED at once, then anything
	f.Fuzz(func(t *testing.T, steps []byte) {
		l := &LabInstanceRequest{Status: Status{Phase: PhasePending}}
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i, b := range steps {
			to := Phase("BOGUS")
			if int(b)%(len(Phases)+1) < len(Phases) {
				to = Phases[int(b)%(len(Phases)+1)]
			}
			from := l.Status.Phase
			n := len(l.Status.Transitions)
			check := CheckTransition(from, to)
			err := l.Transition(to, "Step", "step", at.Add(time.Duration(i)*time.Second))
			if (err == nil) != (check == nil) {
				t.Fatalf("%s -> %s: Transition %v, CheckTransition %v", from, to, err, check)
			}
			switch {
			case err != nil:
				wantRefusal(t, err)
				if l.Status.Phase != from || len(l.Status.Transitions) != n {
					t.Fatalf("a refused transition %s -> %s changed the lab", from, to)
				}
			case from == to:
				if len(l.Status.Transitions) != n {
					t.Fatalf("staying at %s recorded a transition", from)
				}
			default:
				if !from.CanTransitionTo(to) || (from == PhaseCompleted || from == PhaseFailed) {
					t.Fatalf("%s -> %s allowed", from, to)
				}
				tr := l.Status.Transitions[len(l.Status.Transitions)-1]
				if tr.From != from || tr.To != to || len(l.Status.Transitions) != n+1 {
					t.Fatalf("history %+v after %s -> %s", l.Status.Transitions, from, to)
				}
			}
			ready := l.Condition(ConditionReady)
			if (l.Status.Phase == PhaseRunning) != (ready != nil && ready.Status == ConditionTrue) {
				t.Fatalf("phase %s with Ready %+v", l.Status.Phase, ready)
			}
		}
	})
}
