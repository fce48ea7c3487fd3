package api

import (
	"testing"
	"time"
)

func TestRequestStartStop(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.FixedZone("BRT", -3*3600))
	stamp := "2026-11-25T13:00:00Z"
	deleted := func(l *LabInstanceRequest) { l.Metadata.DeletionTimestamp = &now }
	asked := func(key string) func(l *LabInstanceRequest) {
		return func(l *LabInstanceRequest) { l.Metadata.Annotations = StringMap{key: "2026-01-01T00:00:00Z"} }
	}
	type request func(*LabInstanceRequest, time.Time) error
	cases := []struct {
		name       string
		req        request
		annotation string
		phase      Phase
		mutate     func(*LabInstanceRequest)
		wantErr    bool
		want       string // the annotation's value after the call
	}{
		{"start pending", RequestStart, AnnotationStartRequested, PhasePending, nil, false, stamp},
		{"start again keeps the first time", RequestStart, AnnotationStartRequested, PhasePending, asked(AnnotationStartRequested), false, "2026-01-01T00:00:00Z"},
		{"start provisioning", RequestStart, AnnotationStartRequested, PhaseProvisioning, nil, true, ""},
		{"start running", RequestStart, AnnotationStartRequested, PhaseRunning, nil, true, ""},
		{"start completed", RequestStart, AnnotationStartRequested, PhaseCompleted, nil, true, ""},
		{"start deleted", RequestStart, AnnotationStartRequested, PhasePending, deleted, true, ""},
		{"stop running", RequestStop, AnnotationStopRequested, PhaseRunning, nil, false, stamp},
		{"stop again keeps the first time", RequestStop, AnnotationStopRequested, PhaseRunning, asked(AnnotationStopRequested), false, "2026-01-01T00:00:00Z"},
		{"stop pending", RequestStop, AnnotationStopRequested, PhasePending, nil, true, ""},
		{"stop timeout", RequestStop, AnnotationStopRequested, PhaseTimeout, nil, true, ""},
		{"stop failed", RequestStop, AnnotationStopRequested, PhaseFailed, nil, true, ""},
		{"stop deleted", RequestStop, AnnotationStopRequested, PhaseRunning, deleted, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := validLab()
			l.Status.Phase = tc.phase
			if tc.mutate != nil {
				tc.mutate(l)
			}
			before := l.DeepCopy()
			err := tc.req(l, now)
			if tc.wantErr {
				if ErrorCode(err) != ECONFLICT || err.Error() == "" {
					t.Fatalf("err = %v, want a conflict", err)
				}
				if !SpecEqual(&l.Spec, &before.Spec) || len(l.Metadata.Annotations) != len(before.Metadata.Annotations) {
					t.Fatalf("a refused request changed the lab: %+v", l.Metadata)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got := l.Metadata.Annotations[tc.annotation]; got != tc.want {
				t.Fatalf("annotation %s = %q, want %q", tc.annotation, got, tc.want)
			}
			if l.Status.Phase != tc.phase {
				t.Fatalf("a request moved the phase to %s", l.Status.Phase)
			}
		})
	}
}
