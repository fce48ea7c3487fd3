package api

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// storedLab is a lab as the store returns it.
func storedLab() *LabInstanceRequest {
	l := validLab()
	created := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	l.Metadata.UID, l.Metadata.ResourceVersion, l.Metadata.Generation = "uid-1", 5, 1
	l.Metadata.CreationTimestamp = &created
	l.Metadata.Finalizers = []string{Finalizer}
	l.Metadata.Labels = StringMap{"a": "1", "b": "2"}
	l.Status = Status{Phase: PhasePending, ObservedGeneration: 1}
	return l
}

// updateCase is a change of storedLab(): change makes the request from a
// copy of it; want checks the result; field is the field a refusal names.
type updateCase struct {
	name   string
	stored func(cur *LabInstanceRequest) // changes the stored lab first
	apply  func(cur *LabInstanceRequest) error
	want   func(t *testing.T, got *LabInstanceRequest)
	code   string // "" = accepted
	field  string
}

func deleted(cur *LabInstanceRequest) {
	at := time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)
	cur.Metadata.DeletionTimestamp = &at
}

func runUpdateCases(t *testing.T, cases []updateCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cur := storedLab()
			if tc.stored != nil {
				tc.stored(cur)
			}
			before, _ := json.Marshal(cur)
			err := tc.apply(cur)
			if tc.code != "" {
				if (tc.field == "" && ErrorCode(err) != tc.code) || (tc.field != "" && !hasFieldError(err, tc.code, tc.field)) {
					t.Fatalf("err = %v, want %s naming %q", err, tc.code, tc.field)
				}
				if after, _ := json.Marshal(cur); string(after) != string(before) {
					t.Fatalf("a refused update changed the stored lab:\n%s\n%s", before, after)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			// The server's own fields never come from the request.
			m := cur.Metadata
			if m.UID != "uid-1" || m.ResourceVersion != 5 || m.Generation != 1 || m.CreationTimestamp == nil || cur.Status.ObservedGeneration != 1 {
				t.Fatalf("server fields changed: %+v %+v", m, cur.Status)
			}
			if cur.APIVersion != APIVersion || cur.Kind != Kind {
				t.Fatalf("type %q %q", cur.APIVersion, cur.Kind)
			}
			if tc.want != nil {
				tc.want(t, cur)
			}
		})
	}
}

func TestApplyReplace(t *testing.T) {
	t.Parallel()
	replace := func(change func(in *LabInstanceRequest)) func(cur *LabInstanceRequest) error {
		return func(cur *LabInstanceRequest) error {
			in := cur.DeepCopy()
			change(in)
			return ApplyReplace(cur, in)
		}
	}
	runUpdateCases(t, []updateCase{
		{name: "spec and labels replaced", apply: replace(func(in *LabInstanceRequest) {
			in.Spec.DurationMinutes = 120
			in.Metadata.Labels = StringMap{"a": "1", "c": "3"}
		}), want: func(t *testing.T, got *LabInstanceRequest) {
			if got.Spec.DurationMinutes != 120 || !reflect.DeepEqual(got.Metadata.Labels, StringMap{"a": "1", "c": "3"}) {
				t.Errorf("not replaced: %+v %v", got.Spec, got.Metadata.Labels)
			}
		}},
		{name: "status and server metadata in the body ignored", apply: replace(func(in *LabInstanceRequest) {
			at := time.Now()
			in.Status = Status{Phase: PhaseRunning, ContainerID: "forged", Endpoint: "10.0.0.1:22", LastActivity: &at}
			in.Metadata.ResourceVersion, in.Metadata.Generation = 1, 9
			later := time.Now()
			in.Metadata.CreationTimestamp = &later
			in.APIVersion, in.Kind = "", ""
		}), want: func(t *testing.T, got *LabInstanceRequest) {
			if got.Status.Phase != PhasePending || got.Status.ContainerID != "" || got.Status.Endpoint != "" || got.Status.LastActivity != nil {
				t.Errorf("status from the body: %+v", got.Status)
			}
		}},
		{name: "idle timeout replaced", apply: replace(func(in *LabInstanceRequest) { in.Spec.IdleTimeoutMinutes = 45 }),
			want: func(t *testing.T, got *LabInstanceRequest) {
				if got.Spec.IdleTimeoutMinutes != 45 {
					t.Errorf("idle_timeout_minutes %d", got.Spec.IdleTimeoutMinutes)
				}
			}},
		{name: "a request amount left out is its default", apply: replace(func(in *LabInstanceRequest) { in.Spec.ResourceRequests = &ResourceRequests{Memory: "256Mi"} }),
			want: func(t *testing.T, got *LabInstanceRequest) {
				if rr := got.Spec.ResourceRequests; rr == nil || rr.CPU != DefaultRequestCPU || rr.Memory != "256Mi" {
					t.Errorf("requests %+v", rr)
				}
			}},
		{name: "absent resource_requests are the defaults", apply: replace(func(in *LabInstanceRequest) { in.Spec.ResourceRequests = nil }),
			want: func(t *testing.T, got *LabInstanceRequest) {
				if rr := got.Spec.ResourceRequests; rr == nil || rr.CPU != DefaultRequestCPU || rr.Memory != DefaultRequestMemory {
					t.Errorf("requests %+v", rr)
				}
			}},
		{name: "a lab stored without requests keeps none", stored: func(cur *LabInstanceRequest) { cur.Spec.ResourceRequests = nil },
			apply: replace(func(in *LabInstanceRequest) { in.Spec.DurationMinutes = 61 }),
			want: func(t *testing.T, got *LabInstanceRequest) {
				if got.Spec.ResourceRequests != nil || got.Spec.DurationMinutes != 61 {
					t.Errorf("requests %+v duration %d; want none and 61", got.Spec.ResourceRequests, got.Spec.DurationMinutes)
				}
			}},
		{name: "no-op with workload fields in another form", stored: func(cur *LabInstanceRequest) {
			cur.Spec.Command = []string{"httpd"}
			cur.Spec.SecurityContext = &SecurityContext{}
		}, apply: replace(func(in *LabInstanceRequest) {
			in.Spec.Args = []string{}
			in.Spec.SecurityContext = nil
		}), want: func(t *testing.T, got *LabInstanceRequest) {
			want := storedLab()
			want.Spec.Command = []string{"httpd"}
			want.Spec.SecurityContext = &SecurityContext{}
			want.APIVersion, want.Kind = APIVersion, Kind
			if !reflect.DeepEqual(got, want) {
				t.Errorf("no-op replace changed the lab:\n%+v\n%+v", got.Spec, want.Spec)
			}
		}},
		{name: "requests immutable", apply: replace(func(in *LabInstanceRequest) { in.Spec.ResourceRequests = &ResourceRequests{CPU: "1", Memory: "1Gi"} }),
			code: EINVALID, field: "spec.resource_requests"},
		{name: "requests above the limits", apply: replace(func(in *LabInstanceRequest) { in.Spec.ResourceRequests = &ResourceRequests{CPU: "2", Memory: "1Gi"} }),
			code: EINVALID, field: "spec.resource_requests.cpu"},
		{name: "workspace immutable", apply: replace(func(in *LabInstanceRequest) { in.Spec.Workspace = &Workspace{MountPath: "/w"} }), code: EINVALID, field: "spec.workspace"},
		{name: "command immutable", apply: replace(func(in *LabInstanceRequest) { in.Spec.Command = []string{"sh"} }), code: EINVALID, field: "spec.command"},
		{name: "args immutable", apply: replace(func(in *LabInstanceRequest) { in.Spec.Args = []string{"x"} }), code: EINVALID, field: "spec.args"},
		{name: "port immutable", apply: replace(func(in *LabInstanceRequest) { in.Spec.Port = 80 }), code: EINVALID, field: "spec.port"},
		{name: "readiness_path immutable", apply: replace(func(in *LabInstanceRequest) { in.Spec.ReadinessPath = "/" }), code: EINVALID, field: "spec.readiness_path"},
		{name: "security_context immutable", apply: replace(func(in *LabInstanceRequest) {
			in.Spec.SecurityContext = &SecurityContext{RunAsUser: ptr[int64](1000)}
		}), code: EINVALID, field: "spec.security_context"},
		{name: "invalid idle timeout", apply: replace(func(in *LabInstanceRequest) { in.Spec.IdleTimeoutMinutes = 500 }), code: EINVALID, field: "spec.idle_timeout_minutes"},
		{name: "absent resource_limits are the defaults", apply: replace(func(in *LabInstanceRequest) { in.Spec.ResourceLimits = nil }),
			want: func(t *testing.T, got *LabInstanceRequest) {
				if rl := got.Spec.ResourceLimits; rl == nil || rl.CPU != DefaultCPU || rl.Memory != DefaultMemory {
					t.Errorf("limits %+v", rl)
				}
			}},
		{name: "absent finalizers kept", apply: replace(func(in *LabInstanceRequest) { in.Metadata.Finalizers = nil }),
			want: func(t *testing.T, got *LabInstanceRequest) {
				if !got.Metadata.HasFinalizer(Finalizer) {
					t.Errorf("finalizers dropped: %v", got.Metadata.Finalizers)
				}
			}},
		{name: "empty finalizers remove them", apply: replace(func(in *LabInstanceRequest) { in.Metadata.Finalizers = []string{} }),
			want: func(t *testing.T, got *LabInstanceRequest) {
				if got.Metadata.Finalizers != nil {
					t.Errorf("finalizers %#v, want nil", got.Metadata.Finalizers)
				}
			}},
		{name: "no-op keeps the stored form", apply: replace(func(in *LabInstanceRequest) {
			in.Metadata.Annotations = StringMap{} // stored nil: the same
		}), want: func(t *testing.T, got *LabInstanceRequest) {
			want := storedLab()
			want.APIVersion, want.Kind = APIVersion, Kind
			if !reflect.DeepEqual(got, want) {
				t.Errorf("no-op replace changed the lab:\n%+v\n%+v", got, want)
			}
		}},
		{name: "empty labels are nil", apply: replace(func(in *LabInstanceRequest) { in.Metadata.Labels = StringMap{} }),
			want: func(t *testing.T, got *LabInstanceRequest) {
				if got.Metadata.Labels != nil {
					t.Errorf("labels %#v", got.Metadata.Labels)
				}
			}},
		{name: "uid mismatch", apply: replace(func(in *LabInstanceRequest) { in.Metadata.UID = "other" }), code: EINVALID, field: "metadata.uid"},
		{name: "image immutable", apply: replace(func(in *LabInstanceRequest) { in.Spec.LabTemplate = "node:20" }), code: EINVALID, field: "spec.lab_template"},
		{name: "email immutable", apply: replace(func(in *LabInstanceRequest) { in.Spec.StudentEmail = "x@y.edu" }), code: EINVALID, field: "spec.student_email"},
		{name: "environment immutable", apply: replace(func(in *LabInstanceRequest) { in.Spec.Environment = StringMap{"X": "1"} }), code: EINVALID, field: "spec.environment"},
		{name: "limits immutable", apply: replace(func(in *LabInstanceRequest) { in.Spec.ResourceLimits = &ResourceLimits{CPU: "2", Memory: "1Gi"} }), code: EINVALID, field: "spec.resource_limits"},
		{name: "invalid duration", apply: replace(func(in *LabInstanceRequest) { in.Spec.DurationMinutes = 0 }), code: EINVALID, field: "spec.duration_minutes"},
		{name: "start time only while pending", stored: func(cur *LabInstanceRequest) { cur.Status.Phase = PhaseRunning },
			apply: replace(func(in *LabInstanceRequest) { in.Spec.ScheduledStartTime = "2030-01-01T00:00:00Z" }), code: EINVALID, field: "spec.scheduled_start_time"},
		{name: "deleted lab: finalizer removal only", stored: deleted,
			apply: replace(func(in *LabInstanceRequest) { in.Spec.DurationMinutes = 5 }), code: EINVALID, field: "spec"},
		{name: "deleted lab: finalizers removed", stored: deleted,
			apply: replace(func(in *LabInstanceRequest) { in.Metadata.Finalizers = []string{} }),
			want: func(t *testing.T, got *LabInstanceRequest) {
				if got.Metadata.Finalizers != nil || got.Metadata.DeletionTimestamp == nil {
					t.Errorf("metadata %+v", got.Metadata)
				}
			}},
	})
}

func TestPrepareMergePatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		patch   string
		version int64
		code    string
		field   string
	}{
		{`{"spec":{"duration_minutes":5}}`, 0, "", ""},
		{`{"metadata":{"resource_version":42,"labels":{"a":"b"}}}`, 42, "", ""},
		{`{"metadata":{"resource_version":null}}`, 0, "", ""},
		{`{"metadata":null}`, 0, "", ""},
		{`{"status":{"phase":"RUNNING"}}`, 0, EINVALID, "status"},
		{`{"status":null}`, 0, EINVALID, "status"},
		{`{"metadata":{"resource_version":"abc"}}`, 0, EBADREQUEST, "metadata.resource_version"},
		{`{"metadata":{"resource_version":0}}`, 0, EBADREQUEST, "metadata.resource_version"},
		{`{"metadata":{"resource_version":-3}}`, 0, EBADREQUEST, "metadata.resource_version"},
		{`{"metadata":{"resource_version":1.5}}`, 0, EBADREQUEST, "metadata.resource_version"},
	}
	for _, tc := range cases {
		var patch map[string]any
		if err := json.Unmarshal([]byte(tc.patch), &patch); err != nil {
			t.Fatal(err)
		}
		v, err := PrepareMergePatch(patch)
		if tc.code != "" {
			if !hasFieldError(err, tc.code, tc.field) {
				t.Errorf("%s: err = %v, want %s naming %s", tc.patch, err, tc.code, tc.field)
			}
			continue
		}
		if err != nil || v != tc.version {
			t.Errorf("%s: version %d, err %v; want %d", tc.patch, v, err, tc.version)
		}
		if meta, ok := patch["metadata"].(map[string]any); ok {
			if _, left := meta["resource_version"]; left {
				t.Errorf("%s: resource_version left in the patch", tc.patch)
			}
		}
	}
	// Numbers as the codec and the standard library decode them.
	for _, n := range []any{int64(7), 7.0, json.Number("7"), 7} {
		if v, err := PrepareMergePatch(map[string]any{"metadata": map[string]any{"resource_version": n}}); err != nil || v != 7 {
			t.Errorf("version %T(%v): %d, %v", n, n, v, err)
		}
	}
}

func TestApplyMergePatch(t *testing.T) {
	t.Parallel()
	patch := func(doc string) func(cur *LabInstanceRequest) error {
		return func(cur *LabInstanceRequest) error {
			var p map[string]any
			if err := json.Unmarshal([]byte(doc), &p); err != nil {
				return err
			}
			if _, err := PrepareMergePatch(p); err != nil {
				return err
			}
			return ApplyMergePatch(cur, p)
		}
	}
	runUpdateCases(t, []updateCase{
		{name: "labels merged", apply: patch(`{"metadata":{"labels":{"a":null,"b":"3","new":"x"}}}`),
			want: func(t *testing.T, got *LabInstanceRequest) {
				if !reflect.DeepEqual(got.Metadata.Labels, StringMap{"b": "3", "new": "x"}) {
					t.Errorf("labels %v", got.Metadata.Labels)
				}
				if got.Spec.Environment["LAB_TYPE"] != "python-basics" {
					t.Errorf("untouched field lost: %+v", got.Spec)
				}
			}},
		{name: "spec change", apply: patch(`{"spec":{"duration_minutes":30,"scheduled_start_time":"2030-01-02T15:04:05Z"}}`),
			want: func(t *testing.T, got *LabInstanceRequest) {
				if got.Spec.DurationMinutes != 30 || got.Spec.ScheduledStartTime != "2030-01-02T15:04:05Z" {
					t.Errorf("spec %+v", got.Spec)
				}
			}},
		{name: "server fields at their values", apply: patch(`{"api_version":"lab.labrm.io/v1","kind":"LabInstanceRequest","metadata":{"generation":1,"uid":"uid-1","creation_timestamp":"2026-11-25T10:00:00Z"}}`)},
		{name: "finalizers removed", apply: patch(`{"metadata":{"finalizers":null}}`),
			want: func(t *testing.T, got *LabInstanceRequest) {
				if got.Metadata.Finalizers != nil {
					t.Errorf("finalizers %v", got.Metadata.Finalizers)
				}
			}},
		{name: "no-op", apply: patch(`{"spec":{"duration_minutes":60}}`),
			want: func(t *testing.T, got *LabInstanceRequest) {
				want := storedLab()
				want.APIVersion, want.Kind = APIVersion, Kind
				if !reflect.DeepEqual(got, want) {
					t.Errorf("no-op patch changed the lab:\n%+v\n%+v", got, want)
				}
			}},
		{name: "status", apply: patch(`{"status":{"phase":"RUNNING"}}`), code: EINVALID, field: "status"},
		{name: "status endpoint", apply: patch(`{"status":{"endpoint":"10.0.0.1:22"}}`), code: EINVALID, field: "status"},
		{name: "status last_activity", apply: patch(`{"status":{"last_activity":"2030-01-01T00:00:00Z"}}`), code: EINVALID, field: "status"},
		{name: "idle timeout", apply: patch(`{"spec":{"idle_timeout_minutes":20}}`),
			want: func(t *testing.T, got *LabInstanceRequest) {
				if got.Spec.IdleTimeoutMinutes != 20 {
					t.Errorf("idle_timeout_minutes %d", got.Spec.IdleTimeoutMinutes)
				}
			}},
		{name: "idle timeout removed", stored: func(cur *LabInstanceRequest) { cur.Spec.IdleTimeoutMinutes = 20 }, apply: patch(`{"spec":{"idle_timeout_minutes":null}}`),
			want: func(t *testing.T, got *LabInstanceRequest) {
				if got.Spec.IdleTimeoutMinutes != 0 {
					t.Errorf("idle_timeout_minutes %d", got.Spec.IdleTimeoutMinutes)
				}
			}},
		{name: "requests set to their defaults", apply: patch(`{"spec":{"resource_requests":null}}`),
			want: func(t *testing.T, got *LabInstanceRequest) {
				if rr := got.Spec.ResourceRequests; rr == nil || *rr != (ResourceRequests{CPU: DefaultRequestCPU, Memory: DefaultRequestMemory}) {
					t.Errorf("requests %+v", rr)
				}
			}},
		{name: "requests immutable", apply: patch(`{"spec":{"resource_requests":{"cpu":"100m"}}}`), code: EINVALID, field: "spec.resource_requests"},
		{name: "a request amount removed is its default", apply: patch(`{"spec":{"resource_requests":{"cpu":null}}}`),
			want: func(t *testing.T, got *LabInstanceRequest) {
				want := storedLab()
				want.APIVersion, want.Kind = APIVersion, Kind
				if !reflect.DeepEqual(got, want) {
					t.Errorf("no-op patch changed the lab:\n%+v\n%+v", got.Spec.ResourceRequests, want.Spec.ResourceRequests)
				}
			}},
		{name: "a lab stored without requests keeps none", stored: func(cur *LabInstanceRequest) { cur.Spec.ResourceRequests = nil },
			apply: patch(`{"spec":{"duration_minutes":61}}`),
			want: func(t *testing.T, got *LabInstanceRequest) {
				if got.Spec.ResourceRequests != nil || got.Spec.DurationMinutes != 61 {
					t.Errorf("requests %+v duration %d; want none and 61", got.Spec.ResourceRequests, got.Spec.DurationMinutes)
				}
			}},
		{name: "workspace immutable", apply: patch(`{"spec":{"workspace":{"mount_path":"/home/x"}}}`), code: EINVALID, field: "spec.workspace"},
		{name: "command immutable", apply: patch(`{"spec":{"command":["sh","-c","true"]}}`), code: EINVALID, field: "spec.command"},
		{name: "args immutable", apply: patch(`{"spec":{"args":["-v"]}}`), code: EINVALID, field: "spec.args"},
		{name: "port immutable", apply: patch(`{"spec":{"port":9000}}`), code: EINVALID, field: "spec.port"},
		{name: "readiness_path immutable", apply: patch(`{"spec":{"readiness_path":"/ready"}}`), code: EINVALID, field: "spec.readiness_path"},
		{name: "security_context immutable", apply: patch(`{"spec":{"security_context":{"read_only_root_filesystem":true}}}`), code: EINVALID, field: "spec.security_context"},
		{name: "invalid port", apply: patch(`{"spec":{"port":70000}}`), code: EINVALID, field: "spec.port"},
		{name: "image immutable", apply: patch(`{"spec":{"lab_template":"node:20"}}`), code: EINVALID, field: "spec.lab_template"},
		{name: "env immutable", apply: patch(`{"spec":{"environment":{"LAB_TYPE":null}}}`), code: EINVALID, field: "spec.environment"},
		{name: "limits immutable", apply: patch(`{"spec":{"resource_limits":{"cpu":"2"}}}`), code: EINVALID, field: "spec.resource_limits"},
		{name: "rename", apply: patch(`{"metadata":{"name":"other"}}`), code: EINVALID, field: "metadata.name"},
		{name: "generation", apply: patch(`{"metadata":{"generation":7}}`), code: EINVALID, field: "metadata.generation"},
		{name: "creation_timestamp", apply: patch(`{"metadata":{"creation_timestamp":"2030-01-01T00:00:00Z"}}`), code: EINVALID, field: "metadata.creation_timestamp"},
		{name: "kind", apply: patch(`{"kind":"Pod"}`), code: EINVALID, field: "kind"},
		{name: "api_version removed", apply: patch(`{"api_version":null}`), code: EINVALID, field: "api_version"},
		{name: "deletion", apply: patch(`{"metadata":{"deletion_timestamp":"2030-01-01T00:00:00Z"}}`), code: EINVALID, field: "metadata.deletion_timestamp"},
		{name: "invalid value", apply: patch(`{"spec":{"duration_minutes":1000}}`), code: EINVALID, field: "spec.duration_minutes"},
		{name: "bad label", apply: patch(`{"metadata":{"labels":{"bad key":"x"}}}`), code: EINVALID, field: "metadata.labels[bad key]"},
		{name: "wrong type", apply: patch(`{"spec":{"duration_minutes":"long"}}`), code: EBADREQUEST},
		{name: "deleted lab: no finalizer added", stored: deleted,
			apply: patch(`{"metadata":{"finalizers":["` + Finalizer + `","example.com/other"]}}`), code: EINVALID, field: "metadata.finalizers"},
		{name: "deleted lab: no spec change", stored: deleted, apply: patch(`{"spec":{"duration_minutes":9}}`), code: EINVALID, field: "spec"},
	})
}

// TestMergePatch runs the examples of RFC 7396 appendix A.
func TestMergePatch(t *testing.T) {
	t.Parallel()
	cases := []struct{ target, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`["a","b"]`, `["c","d"]`, `["c","d"]`},
		{`{"a":"b"}`, `["c"]`, `["c"]`},
		{`{"a":"foo"}`, `null`, `null`},
		{`{"a":"foo"}`, `"bar"`, `"bar"`},
		{`{"e":null}`, `{"a":1}`, `{"a":1,"e":null}`},
		{`[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
	}
	for _, tc := range cases {
		var target, patch, want any
		for i, s := range []string{tc.target, tc.patch, tc.want} {
			if err := json.Unmarshal([]byte(s), []*any{&target, &patch, &want}[i]); err != nil {
				t.Fatal(err)
			}
		}
		got, _ := json.Marshal(mergePatch(target, patch))
		w, _ := json.Marshal(want)
		if string(got) != string(w) {
			t.Errorf("merge %s with %s = %s, want %s", tc.target, tc.patch, got, w)
		}
	}
}
