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
			if rr := l.Spec.ResourceRequests; rr == nil || rr.CPU != DefaultRequestCPU || rr.Memory != DefaultRequestMemory {
				t.Errorf("resource_requests not defaulted: %+v", rr)
			}
			if l.Spec.Workspace != nil || l.Spec.Command != nil || l.Spec.Port != 0 || l.Spec.IdleTimeoutMinutes != 0 || l.Spec.SecurityContext != nil {
				t.Errorf("optional workload fields defaulted: %+v", l.Spec)
			}
		}, ""},
		{"requests clamped to small limits", func(l *LabInstanceRequest) {
			l.Spec.ResourceLimits = &ResourceLimits{CPU: "0.02", Memory: "32Mi"}
		}, func(t *testing.T, l *LabInstanceRequest) {
			if rr := l.Spec.ResourceRequests; rr == nil || rr.CPU != "0.02" || rr.Memory != "32Mi" {
				t.Errorf("resource_requests %+v, want the limits 0.02 and 32Mi", rr)
			}
		}, ""},
		{"requests clamped on one side only", func(l *LabInstanceRequest) {
			l.Spec.ResourceLimits = &ResourceLimits{CPU: "4", Memory: "64Mi"}
		}, func(t *testing.T, l *LabInstanceRequest) {
			if rr := l.Spec.ResourceRequests; rr == nil || rr.CPU != DefaultRequestCPU || rr.Memory != "64Mi" {
				t.Errorf("resource_requests %+v, want 50m and 64Mi", rr)
			}
		}, ""},
		{"given requests kept", func(l *LabInstanceRequest) {
			l.Spec.ResourceRequests = &ResourceRequests{CPU: "0.5", Memory: "1Gi"}
		}, func(t *testing.T, l *LabInstanceRequest) {
			if rr := l.Spec.ResourceRequests; rr.CPU != "0.5" || rr.Memory != "1Gi" {
				t.Errorf("given requests changed: %+v", rr)
			}
		}, ""},
		{"an amount left out is defaulted", func(l *LabInstanceRequest) {
			l.Spec.ResourceLimits = &ResourceLimits{CPU: "2", Memory: "128Mi"}
			l.Spec.ResourceRequests = &ResourceRequests{CPU: "1"}
		}, func(t *testing.T, l *LabInstanceRequest) {
			if rr := l.Spec.ResourceRequests; rr.CPU != "1" || rr.Memory != "128Mi" {
				t.Errorf("resource_requests %+v, want cpu 1 and the default memory lowered to 128Mi", rr)
			}
		}, ""},
		{"requests above defaulted limits", func(l *LabInstanceRequest) {
			l.Spec.ResourceRequests = &ResourceRequests{CPU: "100m", Memory: "4Gi"}
		}, nil, "spec.resource_requests.memory"},
		{"workload fields kept", func(l *LabInstanceRequest) {
			l.Spec.Workspace = &Workspace{MountPath: "/home/student"}
			l.Spec.Command, l.Spec.Args = []string{"httpd", "-f"}, []string{"-p", "8080"}
			l.Spec.Port, l.Spec.ReadinessPath, l.Spec.IdleTimeoutMinutes = 8080, "/", 30
			l.Spec.SecurityContext = &SecurityContext{RunAsUser: ptr[int64](1000), ReadOnlyRootFilesystem: true}
		}, func(t *testing.T, l *LabInstanceRequest) {
			s := l.Spec
			if s.Workspace.MountPath != "/home/student" || len(s.Command) != 2 || s.Args[1] != "8080" || s.Port != 8080 ||
				s.ReadinessPath != "/" || s.IdleTimeoutMinutes != 30 || *s.SecurityContext.RunAsUser != 1000 || !s.SecurityContext.ReadOnlyRootFilesystem {
				t.Errorf("workload fields changed: %+v", s)
			}
		}, ""},
		{"invalid workload field", func(l *LabInstanceRequest) { l.Spec.Workspace = &Workspace{MountPath: "/proc/self"} }, nil, "spec.workspace.mount_path"},
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
			l.Status = Status{Phase: PhaseRunning, ContainerID: "abc", Transitions: []Transition{{From: PhasePending, To: PhaseRunning}},
				Endpoint: "10.0.0.9:80", LastActivity: &now}
		}, func(t *testing.T, l *LabInstanceRequest) {
			m := l.Metadata
			if m.UID != "" || m.ResourceVersion != 0 || m.Generation != 0 || m.CreationTimestamp != nil {
				t.Errorf("metadata kept server fields: %+v", m)
			}
			if l.Status.Phase != "" || l.Status.ContainerID != "" || l.Status.Transitions != nil || l.Status.Endpoint != "" || l.Status.LastActivity != nil {
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
