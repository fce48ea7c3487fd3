package api

import (
	"encoding/json"
	"encoding/xml"
	"reflect"
	"strings"
	"testing"
	"time"
)

func validLab() *LabInstanceRequest {
	l := &LabInstanceRequest{
		Metadata: ObjectMeta{Name: "my-python-lab", Namespace: "default", Labels: StringMap{"course": "cs101"}},
		Spec: Spec{LabTemplate: "python:3.9-alpine", StudentEmail: "student@university.edu",
			DurationMinutes: 60, Environment: StringMap{"LAB_TYPE": "python-basics"}},
	}
	l.Default()
	return l
}

func TestValidateCreate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		mutate func(*LabInstanceRequest)
		field  string // "" means valid
	}{
		{"valid", func(*LabInstanceRequest) {}, ""},
		{"registry with port and digest", func(l *LabInstanceRequest) {
			l.Spec.LabTemplate = "registry.example.edu:5000/labs/java@sha256:" + strings.Repeat("a", 64)
		}, ""},
		{"uppercase image", func(l *LabInstanceRequest) { l.Spec.LabTemplate = "Python:3.9" }, "spec.lab_template"},
		{"image with space", func(l *LabInstanceRequest) { l.Spec.LabTemplate = "python 3" }, "spec.lab_template"},
		{"empty image", func(l *LabInstanceRequest) { l.Spec.LabTemplate = "" }, "spec.lab_template"},
		{"email no at", func(l *LabInstanceRequest) { l.Spec.StudentEmail = "student" }, "spec.student_email"},
		{"email display name", func(l *LabInstanceRequest) { l.Spec.StudentEmail = "Bob <bob@u.edu>" }, "spec.student_email"},
		{"duration 0", func(l *LabInstanceRequest) { l.Spec.DurationMinutes = 0 }, "spec.duration_minutes"},
		{"duration 480", func(l *LabInstanceRequest) { l.Spec.DurationMinutes = 480 }, ""},
		{"duration 481", func(l *LabInstanceRequest) { l.Spec.DurationMinutes = 481 }, "spec.duration_minutes"},
		{"start rfc3339", func(l *LabInstanceRequest) { l.Spec.ScheduledStartTime = "2026-12-01T10:00:00+01:00" }, ""},
		{"start not rfc3339", func(l *LabInstanceRequest) { l.Spec.ScheduledStartTime = "tomorrow" }, "spec.scheduled_start_time"},
		{"env bad key", func(l *LabInstanceRequest) { l.Spec.Environment = StringMap{"1BAD": "x"} }, "spec.environment[1BAD]"},
		{"env too many", func(l *LabInstanceRequest) {
			l.Spec.Environment = StringMap{}
			for i := range 65 {
				l.Spec.Environment["K"+strings.Repeat("X", i)] = "v"
			}
		}, "spec.environment"},
		{"cpu zero", func(l *LabInstanceRequest) { l.Spec.ResourceLimits.CPU = "0" }, "spec.resource_limits.cpu"},
		{"cpu 8", func(l *LabInstanceRequest) { l.Spec.ResourceLimits.CPU = "8" }, ""},
		{"cpu 500m", func(l *LabInstanceRequest) { l.Spec.ResourceLimits.CPU = "500m" }, ""},
		{"cpu 8.5", func(l *LabInstanceRequest) { l.Spec.ResourceLimits.CPU = "8.5" }, "spec.resource_limits.cpu"},
		{"cpu words", func(l *LabInstanceRequest) { l.Spec.ResourceLimits.CPU = "two" }, "spec.resource_limits.cpu"},
		{"memory 512Mi", func(l *LabInstanceRequest) { l.Spec.ResourceLimits.Memory = "512Mi" }, ""},
		{"memory bad unit", func(l *LabInstanceRequest) { l.Spec.ResourceLimits.Memory = "2GB" }, "spec.resource_limits.memory"},
		{"memory tiny", func(l *LabInstanceRequest) { l.Spec.ResourceLimits.Memory = "1Mi" }, "spec.resource_limits.memory"},
		{"name uppercase", func(l *LabInstanceRequest) { l.Metadata.Name = "My-Lab" }, "metadata.name"},
		{"name too long", func(l *LabInstanceRequest) { l.Metadata.Name = strings.Repeat("a", 64) }, "metadata.name"},
		{"namespace underscore", func(l *LabInstanceRequest) { l.Metadata.Namespace = "a_b" }, "metadata.namespace"},
		{"label value bad", func(l *LabInstanceRequest) { l.Metadata.Labels = StringMap{"k": "-x"} }, "metadata.labels[k]"},
		{"finalizer bad", func(l *LabInstanceRequest) { l.Metadata.Finalizers = []string{"Not Valid"} }, "metadata.finalizers[0]"},
		{"kind wrong", func(l *LabInstanceRequest) { l.Kind = "Pod" }, "kind"},

		// resource_requests: amounts like limits, 0 allowed, at most the limits.
		{"requests given", func(l *LabInstanceRequest) { l.Spec.ResourceRequests = &ResourceRequests{CPU: "0.25", Memory: "1Gi"} }, ""},
		{"requests zero", func(l *LabInstanceRequest) { l.Spec.ResourceRequests = &ResourceRequests{CPU: "0", Memory: "0"} }, ""},
		{"requests equal to the limits", func(l *LabInstanceRequest) {
			l.Spec.ResourceLimits = &ResourceLimits{CPU: "500m", Memory: "512Mi"}
			l.Spec.ResourceRequests = &ResourceRequests{CPU: "0.5", Memory: "512Mi"}
		}, ""},
		{"request cpu words", func(l *LabInstanceRequest) { l.Spec.ResourceRequests.CPU = "lots" }, "spec.resource_requests.cpu"},
		{"request cpu left out", func(l *LabInstanceRequest) { l.Spec.ResourceRequests.CPU = "" }, ""},
		{"request memory left out above a small limit", func(l *LabInstanceRequest) {
			l.Spec.ResourceLimits.Memory = "64Mi"
			l.Spec.ResourceRequests = &ResourceRequests{CPU: "1"} // memory: the default, lowered to the limit
		}, ""},
		{"request cpu above the limit", func(l *LabInstanceRequest) { l.Spec.ResourceRequests.CPU = "1001m" }, "spec.resource_requests.cpu"},
		{"request cpu above the max", func(l *LabInstanceRequest) { l.Spec.ResourceRequests.CPU = "9" }, "spec.resource_requests.cpu"},
		{"request memory bad unit", func(l *LabInstanceRequest) { l.Spec.ResourceRequests.Memory = "1GB" }, "spec.resource_requests.memory"},
		{"request memory above the limit", func(l *LabInstanceRequest) { l.Spec.ResourceRequests.Memory = "3Gi" }, "spec.resource_requests.memory"},
		{"request above a defaulted limit", func(l *LabInstanceRequest) {
			l.Spec.ResourceLimits = nil
			l.Spec.ResourceRequests = &ResourceRequests{CPU: "2", Memory: "1Gi"}
		}, "spec.resource_requests.cpu"},

		// workspace.mount_path.
		{"workspace", func(l *LabInstanceRequest) { l.Spec.Workspace = &Workspace{MountPath: "/home/student"} }, ""},
		{"workspace /devices", func(l *LabInstanceRequest) { l.Spec.Workspace = &Workspace{MountPath: "/devices/x"} }, ""},
		{"workspace no path", func(l *LabInstanceRequest) { l.Spec.Workspace = &Workspace{} }, "spec.workspace.mount_path"},
		{"workspace relative", func(l *LabInstanceRequest) { l.Spec.Workspace = &Workspace{MountPath: "home/student"} }, "spec.workspace.mount_path"},
		{"workspace root", func(l *LabInstanceRequest) { l.Spec.Workspace = &Workspace{MountPath: "/"} }, "spec.workspace.mount_path"},
		{"workspace trailing slash", func(l *LabInstanceRequest) { l.Spec.Workspace = &Workspace{MountPath: "/home/"} }, "spec.workspace.mount_path"},
		{"workspace double slash", func(l *LabInstanceRequest) { l.Spec.Workspace = &Workspace{MountPath: "/home//x"} }, "spec.workspace.mount_path"},
		{"workspace dot", func(l *LabInstanceRequest) { l.Spec.Workspace = &Workspace{MountPath: "/home/./x"} }, "spec.workspace.mount_path"},
		{"workspace dot-dot", func(l *LabInstanceRequest) { l.Spec.Workspace = &Workspace{MountPath: "/home/../etc"} }, "spec.workspace.mount_path"},
		{"workspace NUL", func(l *LabInstanceRequest) { l.Spec.Workspace = &Workspace{MountPath: "/home/a\x00b"} }, "spec.workspace.mount_path"},
		{"workspace newline", func(l *LabInstanceRequest) { l.Spec.Workspace = &Workspace{MountPath: "/home/a\nb"} }, "spec.workspace.mount_path"},
		{"workspace too long", func(l *LabInstanceRequest) {
			l.Spec.Workspace = &Workspace{MountPath: "/" + strings.Repeat("a", MaxMountPathBytes)}
		}, "spec.workspace.mount_path"},
		{"workspace longest", func(l *LabInstanceRequest) {
			l.Spec.Workspace = &Workspace{MountPath: "/" + strings.Repeat("a", MaxMountPathBytes-1)}
		}, ""},
		{"workspace /proc", func(l *LabInstanceRequest) { l.Spec.Workspace = &Workspace{MountPath: "/proc"} }, "spec.workspace.mount_path"},
		{"workspace under /sys", func(l *LabInstanceRequest) { l.Spec.Workspace = &Workspace{MountPath: "/sys/fs/cgroup"} }, "spec.workspace.mount_path"},
		{"workspace under /dev", func(l *LabInstanceRequest) { l.Spec.Workspace = &Workspace{MountPath: "/dev/shm"} }, "spec.workspace.mount_path"},

		// command and args.
		{"command and args", func(l *LabInstanceRequest) {
			l.Spec.Command = []string{"httpd", "-f", "-p", "8080"}
			l.Spec.Args = []string{"-h", "/www", ""}
		}, ""},
		{"command empty entry", func(l *LabInstanceRequest) { l.Spec.Command = []string{"sh", ""} }, "spec.command[1]"},
		{"command NUL", func(l *LabInstanceRequest) { l.Spec.Command = []string{"a\x00b"} }, "spec.command[0]"},
		{"command too many", func(l *LabInstanceRequest) { l.Spec.Command = make([]string, MaxArgs+1) }, "spec.command"},
		{"command entry too long", func(l *LabInstanceRequest) { l.Spec.Command = []string{strings.Repeat("x", MaxArgBytes+1)} }, "spec.command[0]"},
		{"args NUL", func(l *LabInstanceRequest) { l.Spec.Args = []string{"ok", "a\x00b"} }, "spec.args[1]"},
		{"args too many", func(l *LabInstanceRequest) { l.Spec.Args = make([]string, MaxArgs+1) }, "spec.args"},
		{"args longest", func(l *LabInstanceRequest) { l.Spec.Args = []string{strings.Repeat("x", MaxArgBytes)} }, ""},
		{"args entry too long", func(l *LabInstanceRequest) { l.Spec.Args = []string{strings.Repeat("x", MaxArgBytes+1)} }, "spec.args[0]"},

		// port, readiness_path, idle_timeout_minutes.
		{"port 8080", func(l *LabInstanceRequest) { l.Spec.Port = 8080 }, ""},
		{"port 65535", func(l *LabInstanceRequest) { l.Spec.Port = 65535 }, ""},
		{"port 65536", func(l *LabInstanceRequest) { l.Spec.Port = 65536 }, "spec.port"},
		{"port negative", func(l *LabInstanceRequest) { l.Spec.Port = -1 }, "spec.port"},
		{"readiness path", func(l *LabInstanceRequest) { l.Spec.ReadinessPath = "/api/health?full=1" }, ""},
		{"readiness escaped", func(l *LabInstanceRequest) { l.Spec.ReadinessPath = "/a%20b" }, ""},
		{"readiness relative", func(l *LabInstanceRequest) { l.Spec.ReadinessPath = "healthz" }, "spec.readiness_path"},
		{"readiness URL", func(l *LabInstanceRequest) { l.Spec.ReadinessPath = "http://evil.example/x" }, "spec.readiness_path"},
		{"readiness host", func(l *LabInstanceRequest) { l.Spec.ReadinessPath = "//evil.example/x" }, "spec.readiness_path"},
		{"readiness space", func(l *LabInstanceRequest) { l.Spec.ReadinessPath = "/a b" }, "spec.readiness_path"},
		{"readiness tab", func(l *LabInstanceRequest) { l.Spec.ReadinessPath = "/a\tb" }, "spec.readiness_path"},
		{"readiness bad escape", func(l *LabInstanceRequest) { l.Spec.ReadinessPath = "/a%zz" }, "spec.readiness_path"},
		{"readiness fragment", func(l *LabInstanceRequest) { l.Spec.ReadinessPath = "/a#b" }, "spec.readiness_path"},
		{"readiness too long", func(l *LabInstanceRequest) { l.Spec.ReadinessPath = "/" + strings.Repeat("a", MaxReadinessPathBytes) }, "spec.readiness_path"},
		{"idle 480", func(l *LabInstanceRequest) { l.Spec.IdleTimeoutMinutes = 480 }, ""},
		{"idle 481", func(l *LabInstanceRequest) { l.Spec.IdleTimeoutMinutes = 481 }, "spec.idle_timeout_minutes"},
		{"idle negative", func(l *LabInstanceRequest) { l.Spec.IdleTimeoutMinutes = -5 }, "spec.idle_timeout_minutes"},

		// security_context.
		{"run as root", func(l *LabInstanceRequest) { l.Spec.SecurityContext = &SecurityContext{RunAsUser: ptr[int64](0)} }, ""},
		{"run as max uid", func(l *LabInstanceRequest) {
			l.Spec.SecurityContext = &SecurityContext{RunAsUser: ptr[int64](MaxRunAsUser), ReadOnlyRootFilesystem: true}
		}, ""},
		{"run as negative uid", func(l *LabInstanceRequest) { l.Spec.SecurityContext = &SecurityContext{RunAsUser: ptr[int64](-1)} }, "spec.security_context.run_as_user"},
		{"run as 2^31", func(l *LabInstanceRequest) { l.Spec.SecurityContext = &SecurityContext{RunAsUser: ptr[int64](1 << 31)} }, "spec.security_context.run_as_user"},
		{"empty security context", func(l *LabInstanceRequest) { l.Spec.SecurityContext = &SecurityContext{} }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := validLab()
			tc.mutate(l)
			err := ValidateCreate(l)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("valid lab rejected: %v", err)
				}
				return
			}
			e, ok := err.(*Error)
			if !ok || e.Code != EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
			for _, f := range e.Fields {
				if f.Field == tc.field && f.Message != "" {
					return
				}
			}
			t.Fatalf("fields = %+v, want one on %s", e.Fields, tc.field)
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		phase  Phase
		mutate func(*LabInstanceRequest)
		field  string
	}{
		{"duration may change", PhaseRunning, func(l *LabInstanceRequest) { l.Spec.DurationMinutes = 90 }, ""},
		{"labels may change", PhaseRunning, func(l *LabInstanceRequest) { l.Metadata.Labels["x"] = "y" }, ""},
		{"template immutable", PhasePending, func(l *LabInstanceRequest) { l.Spec.LabTemplate = "node:20" }, "spec.lab_template"},
		{"email immutable", PhasePending, func(l *LabInstanceRequest) { l.Spec.StudentEmail = "x@u.edu" }, "spec.student_email"},
		{"env immutable", PhasePending, func(l *LabInstanceRequest) { l.Spec.Environment["NEW"] = "1" }, "spec.environment"},
		{"limits immutable", PhasePending, func(l *LabInstanceRequest) { l.Spec.ResourceLimits = &ResourceLimits{CPU: "2", Memory: "2Gi"} }, "spec.resource_limits"},
		{"start while pending", PhasePending, func(l *LabInstanceRequest) { l.Spec.ScheduledStartTime = "2030-01-01T00:00:00Z" }, ""},
		{"start while running", PhaseRunning, func(l *LabInstanceRequest) { l.Spec.ScheduledStartTime = "2030-01-01T00:00:00Z" }, "spec.scheduled_start_time"},
		{"name immutable", PhasePending, func(l *LabInstanceRequest) { l.Metadata.Name = "other" }, "metadata.name"},
		{"idle timeout may change", PhaseRunning, func(l *LabInstanceRequest) { l.Spec.IdleTimeoutMinutes = 15 }, ""},
		{"requests immutable", PhasePending, func(l *LabInstanceRequest) { l.Spec.ResourceRequests = &ResourceRequests{CPU: "100m", Memory: "256Mi"} }, "spec.resource_requests"},
		{"requests in another form", PhasePending, func(l *LabInstanceRequest) { l.Spec.ResourceRequests = nil }, ""},
		{"workspace immutable", PhasePending, func(l *LabInstanceRequest) { l.Spec.Workspace = &Workspace{MountPath: "/work"} }, "spec.workspace"},
		{"command immutable", PhasePending, func(l *LabInstanceRequest) { l.Spec.Command = []string{"sh"} }, "spec.command"},
		{"args immutable", PhasePending, func(l *LabInstanceRequest) { l.Spec.Args = []string{"-x"} }, "spec.args"},
		{"empty args are none", PhasePending, func(l *LabInstanceRequest) { l.Spec.Args = []string{} }, ""},
		{"port immutable", PhasePending, func(l *LabInstanceRequest) { l.Spec.Port = 8888 }, "spec.port"},
		{"readiness immutable", PhasePending, func(l *LabInstanceRequest) { l.Spec.ReadinessPath = "/ready" }, "spec.readiness_path"},
		{"security context immutable", PhasePending, func(l *LabInstanceRequest) {
			l.Spec.SecurityContext = &SecurityContext{ReadOnlyRootFilesystem: true}
		}, "spec.security_context"},
		{"empty security context is none", PhasePending, func(l *LabInstanceRequest) { l.Spec.SecurityContext = &SecurityContext{} }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := validLab()
			old.Status.Phase = tc.phase
			next := old.DeepCopy()
			tc.mutate(next)
			err := ValidateUpdate(old, next)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("allowed change rejected: %v", err)
				}
				return
			}
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("err = %v", err)
			}
			for _, f := range e.Fields {
				if f.Field == tc.field {
					return
				}
			}
			t.Fatalf("fields = %+v, want %s", e.Fields, tc.field)
		})
	}
	// After deletion started, finalizers may only be removed.
	old := validLab()
	now := time.Now()
	old.Metadata.DeletionTimestamp = &now
	old.Metadata.Finalizers = []string{Finalizer}
	next := old.DeepCopy()
	next.Metadata.Finalizers = append(next.Metadata.Finalizers, "other.example.com/x")
	if err := ValidateUpdate(old, next); err == nil {
		t.Fatal("adding a finalizer during deletion accepted")
	}
	next = old.DeepCopy()
	next.Metadata.RemoveFinalizer(Finalizer)
	if err := ValidateUpdate(old, next); err != nil {
		t.Fatalf("removing a finalizer during deletion: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestDefaultRequests: absent requests are 50m and 256Mi, each clamped to a
// smaller limit in the limit's own spelling, so that the provider, which
// computes the same default at plan time, plans exactly what labd stores.
func TestDefaultRequests(t *testing.T) {
	t.Parallel()
	if m, err := ParseCPU(DefaultRequestCPU); err != nil || m != defaultRequestMilliCPU {
		t.Fatalf("DefaultRequestCPU %q = %d, %v; want %d", DefaultRequestCPU, m, err, defaultRequestMilliCPU)
	}
	if b, err := ParseMemory(DefaultRequestMemory); err != nil || b != defaultRequestBytes {
		t.Fatalf("DefaultRequestMemory %q = %d, %v; want %d", DefaultRequestMemory, b, err, defaultRequestBytes)
	}
	// The sizing the defaults promise: 30 labs on 2 cores and 24 GiB.
	if 30*defaultRequestMilliCPU > 2000 || 30*int64(defaultRequestBytes) > 24<<30 {
		t.Fatalf("30 labs of %s and %s do not fit on 2 cores and 24Gi", DefaultRequestCPU, DefaultRequestMemory)
	}
	for _, tc := range []struct {
		limits ResourceLimits
		want   ResourceRequests
	}{
		{ResourceLimits{CPU: DefaultCPU, Memory: DefaultMemory}, ResourceRequests{CPU: "50m", Memory: "256Mi"}},
		{ResourceLimits{CPU: "0.1", Memory: "32Mi"}, ResourceRequests{CPU: "50m", Memory: "32Mi"}},
		{ResourceLimits{CPU: "0.025", Memory: "100000000"}, ResourceRequests{CPU: "0.025", Memory: "100000000"}},
		{ResourceLimits{CPU: "50m", Memory: "256Mi"}, ResourceRequests{CPU: "50m", Memory: "256Mi"}},
		{ResourceLimits{CPU: "0.05", Memory: "0.25Gi"}, ResourceRequests{CPU: "50m", Memory: "256Mi"}}, // equal, or invalid: the defaults
	} {
		if got := DefaultRequests(tc.limits); got != tc.want {
			t.Errorf("DefaultRequests(%+v) = %+v, want %+v", tc.limits, got, tc.want)
		}
	}
	// A stored lab without requests (created before they existed) reserves
	// the defaults under its limits.
	s := Spec{ResourceLimits: &ResourceLimits{CPU: "0.1", Memory: "64Mi"}}
	if got := s.EffectiveRequests(); got != (ResourceRequests{CPU: "50m", Memory: "64Mi"}) {
		t.Errorf("EffectiveRequests of a lab without requests = %+v", got)
	}
	s.ResourceRequests = &ResourceRequests{CPU: "2"}
	if got := s.EffectiveRequests(); got != (ResourceRequests{CPU: "2", Memory: "64Mi"}) {
		t.Errorf("EffectiveRequests with the memory left out = %+v", got)
	}
	if got := (&Spec{}).EffectiveLimits(); got != (ResourceLimits{CPU: DefaultCPU, Memory: DefaultMemory}) {
		t.Errorf("EffectiveLimits of a lab without limits = %+v", got)
	}
}

// TestSpecEqualWorkload: every workload field takes part in SpecEqual, so
// that changing it bumps generation; forms that mean the same do not.
func TestSpecEqualWorkload(t *testing.T) {
	t.Parallel()
	base := validLab().Spec
	base.Command, base.Args = []string{"httpd"}, []string{"-f"}
	base.SecurityContext = &SecurityContext{RunAsUser: ptr[int64](1000)}
	for name, change := range map[string]func(s *Spec){
		"requests":     func(s *Spec) { s.ResourceRequests = &ResourceRequests{CPU: "1", Memory: "1Gi"} },
		"workspace":    func(s *Spec) { s.Workspace = &Workspace{MountPath: "/w"} },
		"command":      func(s *Spec) { s.Command = []string{"sh"} },
		"args":         func(s *Spec) { s.Args = nil },
		"port":         func(s *Spec) { s.Port = 1 },
		"readiness":    func(s *Spec) { s.ReadinessPath = "/x" },
		"idle timeout": func(s *Spec) { s.IdleTimeoutMinutes = 5 },
		"run as user":  func(s *Spec) { s.SecurityContext = &SecurityContext{RunAsUser: ptr[int64](0)} },
		"read-only": func(s *Spec) {
			s.SecurityContext = &SecurityContext{RunAsUser: ptr[int64](1000), ReadOnlyRootFilesystem: true}
		},
		"no user": func(s *Spec) { s.SecurityContext = &SecurityContext{} },
	} {
		n := (&LabInstanceRequest{Spec: base}).DeepCopy().Spec
		change(&n)
		if SpecEqual(&base, &n) {
			t.Errorf("%s: a change is SpecEqual", name)
		}
	}
	for name, pair := range map[string][2]func(s *Spec){
		"nil and empty lists": {func(s *Spec) { s.Command, s.Args = nil, nil }, func(s *Spec) { s.Command, s.Args = []string{}, []string{} }},
		"requests left out":   {func(s *Spec) {}, func(s *Spec) { s.ResourceRequests = nil }},
		"no security context": {func(s *Spec) { s.SecurityContext = nil }, func(s *Spec) { s.SecurityContext = &SecurityContext{} }},
	} {
		a := (&LabInstanceRequest{Spec: base}).DeepCopy().Spec
		b := (&LabInstanceRequest{Spec: base}).DeepCopy().Spec
		pair[0](&a)
		pair[1](&b)
		if !SpecEqual(&a, &b) || !SpecEqual(&b, &a) {
			t.Errorf("%s: same meaning, not SpecEqual:\n%+v\n%+v", name, a, b)
		}
	}
}

func TestQuantities(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"1": 1000, "0.5": 500, ".25": 250, "500m": 500, "8": 8000, "2.125": 2125} {
		if got, err := ParseCPU(in); err != nil || got != want {
			t.Errorf("ParseCPU(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.2345", "1e3", "m", "0x10"} {
		if _, err := ParseCPU(in); err == nil {
			t.Errorf("ParseCPU(%q) accepted", in)
		}
	}
	for in, want := range map[string]int64{"512Mi": 512 << 20, "2Gi": 2 << 30, "1000": 1000, "1G": 1e9, "64Ki": 64 << 10} {
		if got, err := ParseMemory(in); err != nil || got != want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "2GB", "1.5Gi", "-1Mi", "99999999999999999999"} {
		if _, err := ParseMemory(in); err == nil {
			t.Errorf("ParseMemory(%q) accepted", in)
		}
	}
	if FormatCPU(1500) != "1500m" || FormatCPU(2000) != "2" || FormatMemory(2<<30) != "2Gi" || FormatMemory(1000) != "1000" {
		t.Error("Format round trip")
	}
}

func TestLabelSelector(t *testing.T) {
	t.Parallel()
	got, err := ParseLabelSelector("course=cs101, tier==gold")
	if err != nil || !reflect.DeepEqual(got, map[string]string{"course": "cs101", "tier": "gold"}) {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"course", "=x", "a=b,a=c", "k=v v"} {
		if _, err := ParseLabelSelector(bad); err == nil {
			t.Errorf("ParseLabelSelector(%q) accepted", bad)
		}
	}
}

func TestXMLRoundTrip(t *testing.T) {
	t.Parallel()
	l := validLab()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	l.Metadata.CreationTimestamp = &now
	l.Metadata.Finalizers = []string{Finalizer}
	l.Metadata.ResourceVersion = 42
	l.Spec.Environment["A_B"] = "x<y & z"
	l.Spec.ResourceRequests = &ResourceRequests{CPU: "250m", Memory: "512Mi"}
	l.Spec.Workspace = &Workspace{MountPath: "/home/student"}
	l.Spec.Command = []string{"httpd", "-f", "-p", "8080"}
	l.Spec.Args = []string{"-h", "/www & <more>", ""}
	l.Spec.Port = 8080
	l.Spec.ReadinessPath = "/healthz?x=1&y=2"
	l.Spec.IdleTimeoutMinutes = 30
	l.Spec.SecurityContext = &SecurityContext{RunAsUser: ptr[int64](0), ReadOnlyRootFilesystem: true}
	l.Status = Status{Phase: PhasePending}
	if err := l.Transition(PhaseProvisioning, "Scheduled", "capacity free", now); err != nil {
		t.Fatal(err)
	}
	l.Status.Endpoint = "172.18.0.5:8080"
	l.Status.LastActivity = &now
	b, err := xml.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	var back LabInstanceRequest
	if err := xml.Unmarshal(b, &back); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	back.XMLName = l.XMLName
	j1, _ := json.Marshal(l)
	j2, _ := json.Marshal(&back)
	if string(j1) != string(j2) {
		t.Fatalf("XML round trip changed the lab:\n%s\n%s\nxml: %s", j1, j2, b)
	}
	// Lists are wrapped, one <arg> per entry; run_as_user 0 is kept.
	for _, want := range []string{"<command><arg>httpd</arg><arg>-f</arg>", "<args><arg>-h</arg>", "<arg></arg></args>",
		"<run_as_user>0</run_as_user>", "<workspace><mount_path>/home/student</mount_path></workspace>", "<endpoint>172.18.0.5:8080</endpoint>"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("XML lacks %s: %s", want, b)
		}
	}
	// An empty map stays empty, not absent.
	var m struct {
		XMLName xml.Name  `xml:"x"`
		M       StringMap `xml:"m"`
	}
	if err := xml.Unmarshal([]byte(`<x><m></m></x>`), &m); err != nil || m.M == nil || len(m.M) != 0 {
		t.Fatalf("empty map: %v %v", m.M, err)
	}
	if err := xml.Unmarshal([]byte(`<x><m><bad/></m></x>`), &m); err == nil {
		t.Fatal("unknown element in a map accepted")
	}
}
