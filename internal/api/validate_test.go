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
	l.Status = Status{Phase: PhasePending}
	if err := l.Transition(PhaseProvisioning, "Scheduled", "capacity free", now); err != nil {
		t.Fatal(err)
	}
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
