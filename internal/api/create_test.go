package api

import (
	"encoding/json"
	"testing"
	"time"
)

func TestPrepareCreate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	bare := func() *LabInstanceRequest {
		return &LabInstanceRequest{
			Metadata: ObjectMeta{Name: "lab-1"},
			Spec:     Spec{LabTemplate: "python:3.9-alpine", StudentEmail: "a@b.edu", DurationMinutes: 30},
		}
	}
	cases := []struct {
		name   string
		mutate func(*LabInstanceRequest)
		check  func(t *testing.T, l *LabInstanceRequest)
		field  string // the field an error names; "" = accepted
	}{
		{"defaults", func(*LabInstanceRequest) {}, func(t *testing.T, l *LabInstanceRequest) {
			if l.APIVersion != APIVersion || l.Kind != Kind || l.Metadata.Namespace != DefaultNamespace {
				t.Errorf("type and namespace not defaulted: %q %q %q", l.APIVersion, l.Kind, l.Metadata.Namespace)
			}
			if rl := l.Spec.ResourceLimits; rl == nil || rl.CPU != DefaultCPU || rl.Memory != DefaultMemory {
				t.Errorf("resource_limits not defaulted: %+v", rl)
			}
		}, ""},
		{"given values kept", func(l *LabInstanceRequest) {
			l.APIVersion, l.Kind, l.Metadata.Namespace = APIVersion, Kind, "course-1"
			l.Spec.ResourceLimits = &ResourceLimits{CPU: "500m", Memory: "512Mi"}
		}, func(t *testing.T, l *LabInstanceRequest) {
			if l.Metadata.Namespace != "course-1" || l.Spec.ResourceLimits.CPU != "500m" || l.Spec.ResourceLimits.Memory != "512Mi" {
				t.Errorf("given values changed: %+v %+v", l.Metadata, l.Spec.ResourceLimits)
			}
		}, ""},
		{"server-owned fields cleared", func(l *LabInstanceRequest) {
			l.Metadata.UID, l.Metadata.ResourceVersion, l.Metadata.Generation = "forged", 99, 7
			l.Metadata.CreationTimestamp = &now
			l.Status = Status{Phase: PhaseRunning, ContainerID: "abc", Transitions: []Transition{{From: PhasePending, To: PhaseRunning}}}
		}, func(t *testing.T, l *LabInstanceRequest) {
			m := l.Metadata
			if m.UID != "" || m.ResourceVersion != 0 || m.Generation != 0 || m.CreationTimestamp != nil {
				t.Errorf("metadata kept server fields: %+v", m)
			}
			if l.Status.Phase != "" || l.Status.ContainerID != "" || l.Status.Transitions != nil {
				t.Errorf("status kept: %+v", l.Status)
			}
		}, ""},
		{"user metadata kept", func(l *LabInstanceRequest) {
			l.Metadata.Labels = StringMap{"team": "red"}
			l.Metadata.Annotations = StringMap{"note": "x"}
			l.Metadata.Finalizers = []string{Finalizer}
		}, func(t *testing.T, l *LabInstanceRequest) {
			if l.Metadata.Labels["team"] != "red" || l.Metadata.Annotations["note"] != "x" || !l.Metadata.HasFinalizer(Finalizer) {
				t.Errorf("user metadata lost: %+v", l.Metadata)
			}
		}, ""},
		{"wrong kind reported", func(l *LabInstanceRequest) { l.Kind = "Pod" }, nil, "kind"},
		{"wrong api_version reported", func(l *LabInstanceRequest) { l.APIVersion = "v1" }, nil, "api_version"},
		{"deletion_timestamp refused", func(l *LabInstanceRequest) { l.Metadata.DeletionTimestamp = &now }, nil, "metadata.deletion_timestamp"},
		{"invalid spec", func(l *LabInstanceRequest) { l.Spec.DurationMinutes = 0 }, nil, "spec.duration_minutes"},
		{"invalid default-less name", func(l *LabInstanceRequest) { l.Metadata.Name = "" }, nil, "metadata.name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := bare()
			tc.mutate(l)
			err := PrepareCreate(l)
			if tc.field != "" {
				if !hasFieldError(err, EINVALID, tc.field) {
					t.Fatalf("err = %v, want EINVALID naming %s", err, tc.field)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			tc.check(t, l)
			// Idempotent: the store prepares again what the API prepared.
			first, _ := json.Marshal(l)
			if err := PrepareCreate(l); err != nil {
				t.Fatalf("second PrepareCreate: %v", err)
			}
			if second, _ := json.Marshal(l); string(first) != string(second) {
				t.Fatalf("second PrepareCreate changed the lab:\n%s\n%s", first, second)
			}
		})
	}
}

// hasFieldError reports whether err is an *Error with code naming field.
func hasFieldError(err error, code, field string) bool {
	e, ok := err.(*Error)
	if !ok || e.Code != code {
		return false
	}
	for _, f := range e.Fields {
		if f.Field == field && f.Message != "" {
			return true
		}
	}
	return false
}
