package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// manifest renders l for a PUT.
func manifest(l *api.LabInstanceRequest) string { return mustJSON(l) }

func TestReplace(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *env) {
		l := e.create("put-lab", func(m map[string]any) { m["labels"] = map[string]any{"a": "1", "b": "2"} })
		rv := l.Metadata.ResourceVersion

		// Without a version: 428, nothing written.
		noVersion := *l.DeepCopy()
		noVersion.Metadata.ResourceVersion = 0
		noVersion.Spec.DurationMinutes = 120
		p := e.do("PUT", "/api/lab-instances/put-lab", manifest(&noVersion)).problem(t, http.StatusPreconditionRequired, api.EPRECONDITION)
		if !strings.Contains(p.Detail, "resource_version") {
			t.Fatalf("detail %q", p.Detail)
		}

		// With the current version: spec and labels are replaced, status in
		// the body is ignored, generation moves with the spec.
		next := l.DeepCopy()
		next.Spec.DurationMinutes = 120
		next.Metadata.Labels = api.StringMap{"a": "1", "c": "3"}
		next.Status.Phase = api.PhaseRunning
		next.Status.ContainerID = "forged"
		r := e.do("PUT", "/api/lab-instances/put-lab", manifest(next)).want(t, http.StatusOK)
		got := r.lab(t)
		if got.Spec.DurationMinutes != 120 || got.Metadata.Generation != 2 || got.Metadata.ResourceVersion <= rv {
			t.Fatalf("replace: %+v", got.Metadata)
		}
		if len(got.Metadata.Labels) != 2 || got.Metadata.Labels["c"] != "3" || got.Metadata.Labels["b"] != "" {
			t.Fatalf("labels not replaced: %v", got.Metadata.Labels)
		}
		if got.Status.Phase != api.PhasePending || got.Status.ContainerID != "" {
			t.Fatalf("status taken from a PUT body: %+v", got.Status)
		}
		if r.header.Get("ETag") != etagOf(got.Metadata.ResourceVersion) {
			t.Fatalf("ETag %q", r.header.Get("ETag"))
		}

		// The old version again: 409 and nothing written.
		stale := l.DeepCopy()
		stale.Spec.DurationMinutes = 5
		e.do("PUT", "/api/lab-instances/put-lab", manifest(stale)).problem(t, http.StatusConflict, api.ECONFLICT)
		if now := e.get("put-lab"); now.Metadata.ResourceVersion != got.Metadata.ResourceVersion || now.Spec.DurationMinutes != 120 {
			t.Fatalf("stale PUT wrote: %+v", now)
		}

		// If-Match instead of the body's version; a stale If-Match is 409.
		viaHeader := got.DeepCopy()
		viaHeader.Metadata.ResourceVersion = 0
		viaHeader.Metadata.Labels = api.StringMap{"only": "labels"}
		e.do("PUT", "/api/lab-instances/put-lab", manifest(viaHeader), "If-Match", etagOf(rv)).problem(t, http.StatusConflict, api.ECONFLICT)
		r = e.do("PUT", "/api/lab-instances/put-lab", manifest(viaHeader), "If-Match", etagOf(got.Metadata.ResourceVersion)).want(t, http.StatusOK)
		labelsOnly := r.lab(t)
		if labelsOnly.Metadata.Generation != 2 || labelsOnly.Metadata.Labels["only"] != "labels" {
			t.Fatalf("a labels-only change moved generation or lost labels: %+v", labelsOnly.Metadata)
		}
		// Body version and If-Match that disagree.
		e.do("PUT", "/api/lab-instances/put-lab", manifest(labelsOnly), "If-Match", etagOf(rv)).problem(t, http.StatusBadRequest, api.EBADREQUEST)
		e.do("PUT", "/api/lab-instances/put-lab", manifest(viaHeader), "If-Match", "W/"+etagOf(rv)).problem(t, http.StatusBadRequest, api.EBADREQUEST)

		// A no-op replace writes nothing.
		same := e.do("PUT", "/api/lab-instances/put-lab", manifest(labelsOnly)).want(t, http.StatusOK).lab(t)
		if same.Metadata.ResourceVersion != labelsOnly.Metadata.ResourceVersion {
			t.Fatalf("no-op PUT moved resource_version %d -> %d", labelsOnly.Metadata.ResourceVersion, same.Metadata.ResourceVersion)
		}

		// Immutable fields: 422 naming each.
		imm := labelsOnly.DeepCopy()
		imm.Spec.LabTemplate = "node:20"
		imm.Spec.StudentEmail = "other@university.edu"
		imm.Spec.Environment = api.StringMap{"X": "1"}
		imm.Spec.ResourceLimits = &api.ResourceLimits{CPU: "2", Memory: "1Gi"}
		p = e.do("PUT", "/api/lab-instances/put-lab", manifest(imm)).problem(t, http.StatusUnprocessableEntity, api.EINVALID)
		for _, f := range []string{"spec.lab_template", "spec.student_email", "spec.environment", "spec.resource_limits"} {
			wantField(t, p, f)
		}
		// Validation on update names the field too.
		bad := labelsOnly.DeepCopy()
		bad.Spec.DurationMinutes = 0
		wantField(t, e.do("PUT", "/api/lab-instances/put-lab", manifest(bad)).problem(t, http.StatusUnprocessableEntity, api.EINVALID), "spec.duration_minutes")
		// The URL and body must name the same lab.
		other := labelsOnly.DeepCopy()
		other.Metadata.Name = "someone-else"
		wantField(t, e.do("PUT", "/api/lab-instances/put-lab", manifest(other)).problem(t, http.StatusBadRequest, api.EBADREQUEST), "metadata.name")
		if now := e.get("put-lab"); now.Metadata.ResourceVersion != labelsOnly.Metadata.ResourceVersion {
			t.Fatalf("rejected PUTs wrote: rv %d -> %d", labelsOnly.Metadata.ResourceVersion, now.Metadata.ResourceVersion)
		}
		e.do("PUT", "/api/lab-instances/nope", manifest(&api.LabInstanceRequest{Spec: labelsOnly.Spec}), "If-Match", "*").problem(t, http.StatusNotFound, api.ENOTFOUND)
	})
}

func TestPatch(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *env) {
		l := e.create("patch-lab", func(m map[string]any) { m["labels"] = map[string]any{"team": "red", "week": "1"} })
		mp := "application/merge-patch+json"

		// null deletes a label, a value adds or replaces one; labels are
		// metadata, so generation stays.
		r := e.do("PATCH", "/api/lab-instances/patch-lab", `{"metadata":{"labels":{"team":null,"week":"2","new":"x"}}}`, "Content-Type", mp).want(t, http.StatusOK)
		got := r.lab(t)
		if _, ok := got.Metadata.Labels["team"]; ok || got.Metadata.Labels["week"] != "2" || got.Metadata.Labels["new"] != "x" {
			t.Fatalf("labels after patch: %v", got.Metadata.Labels)
		}
		if got.Metadata.Generation != 1 || got.Metadata.ResourceVersion <= l.Metadata.ResourceVersion {
			t.Fatalf("labels patch: %+v", got.Metadata)
		}
		if r.header.Get("ETag") != etagOf(got.Metadata.ResourceVersion) {
			t.Fatalf("ETag %q", r.header.Get("ETag"))
		}
		// Untouched fields stay.
		if got.Spec.Environment["LAB_TYPE"] != "python-basics" || got.Spec.LabTemplate != l.Spec.LabTemplate {
			t.Fatalf("patch lost fields: %+v", got.Spec)
		}

		// A spec change bumps generation; plain application/json works too.
		got2 := e.do("PATCH", "/api/lab-instances/patch-lab", `{"spec":{"duration_minutes":30}}`).want(t, http.StatusOK).lab(t)
		if got2.Spec.DurationMinutes != 30 || got2.Metadata.Generation != 2 {
			t.Fatalf("spec patch: %+v", got2)
		}
		// YAML patch.
		got3 := e.do("PATCH", "/api/lab-instances/patch-lab", "spec:\n  scheduled_start_time: \"2030-01-02T15:04:05Z\"\n", "Content-Type", "application/yaml").want(t, http.StatusOK).lab(t)
		if got3.Spec.ScheduledStartTime != "2030-01-02T15:04:05Z" || got3.Metadata.Generation != 3 {
			t.Fatalf("YAML patch: %+v", got3)
		}
		// A no-op patch writes nothing.
		if same := e.do("PATCH", "/api/lab-instances/patch-lab", `{"spec":{"duration_minutes":30}}`, "Content-Type", mp).want(t, http.StatusOK).lab(t); same.Metadata.ResourceVersion != got3.Metadata.ResourceVersion {
			t.Fatalf("no-op patch moved resource_version")
		}

		// Preconditions: a stale resource_version in the patch or If-Match
		// is 409 and writes nothing; the current one applies.
		stale := itoa(l.Metadata.ResourceVersion)
		e.do("PATCH", "/api/lab-instances/patch-lab", `{"metadata":{"resource_version":`+stale+`},"spec":{"duration_minutes":45}}`, "Content-Type", mp).problem(t, http.StatusConflict, api.ECONFLICT)
		e.do("PATCH", "/api/lab-instances/patch-lab", `{"spec":{"duration_minutes":45}}`, "Content-Type", mp, "If-Match", etagOf(l.Metadata.ResourceVersion)).problem(t, http.StatusConflict, api.ECONFLICT)
		if now := e.get("patch-lab"); now.Spec.DurationMinutes != 30 || now.Metadata.ResourceVersion != got3.Metadata.ResourceVersion {
			t.Fatalf("stale patch wrote: %+v", now)
		}
		cur := itoa(got3.Metadata.ResourceVersion)
		if g := e.do("PATCH", "/api/lab-instances/patch-lab", `{"metadata":{"resource_version":`+cur+`},"spec":{"duration_minutes":45}}`, "Content-Type", mp).want(t, http.StatusOK).lab(t); g.Spec.DurationMinutes != 45 {
			t.Fatalf("conditional patch: %+v", g.Spec)
		}

		// Rejected patches.
		cases := []struct {
			name, body string
			status     int
			code       string
			field      string
		}{
			{"status", `{"status":{"phase":"RUNNING"}}`, 422, api.EINVALID, "status"},
			{"immutable image", `{"spec":{"lab_template":"node:20"}}`, 422, api.EINVALID, "spec.lab_template"},
			{"immutable email", `{"spec":{"student_email":"x@y.edu"}}`, 422, api.EINVALID, "spec.student_email"},
			{"immutable env", `{"spec":{"environment":{"LAB_TYPE":null}}}`, 422, api.EINVALID, "spec.environment"},
			{"immutable limits", `{"spec":{"resource_limits":{"cpu":"2"}}}`, 422, api.EINVALID, "spec.resource_limits"},
			{"rename", `{"metadata":{"name":"other"}}`, 422, api.EINVALID, "metadata.name"},
			{"generation", `{"metadata":{"generation":7}}`, 422, api.EINVALID, "metadata.generation"},
			{"deletion", `{"metadata":{"deletion_timestamp":"2030-01-01T00:00:00Z"}}`, 422, api.EINVALID, "metadata.deletion_timestamp"},
			{"invalid value", `{"spec":{"duration_minutes":1000}}`, 422, api.EINVALID, "spec.duration_minutes"},
			{"bad label", `{"metadata":{"labels":{"bad key":"x"}}}`, 422, api.EINVALID, "metadata.labels[bad key]"},
			{"unknown field", `{"spec":{"gpus":2}}`, 400, api.EBADREQUEST, "spec.gpus"},
			{"wrong type", `{"spec":{"duration_minutes":"long"}}`, 400, api.EBADREQUEST, "spec.duration_minutes"},
			{"not an object", `["x"]`, 400, api.EBADREQUEST, ""},
			{"bad version", `{"metadata":{"resource_version":"abc"}}`, 400, api.EBADREQUEST, "metadata.resource_version"},
		}
		before := e.get("patch-lab")
		for _, tc := range cases {
			p := e.do("PATCH", "/api/lab-instances/patch-lab", tc.body, "Content-Type", mp).problem(t, tc.status, tc.code)
			if tc.field != "" && !hasField(p, tc.field) {
				t.Errorf("%s: problem does not name %q: %+v", tc.name, tc.field, p)
			}
		}
		e.do("PATCH", "/api/lab-instances/patch-lab", `[{"op":"add"}]`, "Content-Type", "application/json-patch+json").problem(t, http.StatusUnsupportedMediaType, api.EUNSUPPORTED)
		e.do("PATCH", "/api/lab-instances/patch-lab", `<x/>`, "Content-Type", "application/xml").problem(t, http.StatusUnsupportedMediaType, api.EUNSUPPORTED)
		if after := e.get("patch-lab"); after.Metadata.ResourceVersion != before.Metadata.ResourceVersion {
			t.Fatalf("rejected patches wrote: rv %d -> %d", before.Metadata.ResourceVersion, after.Metadata.ResourceVersion)
		}
		e.do("PATCH", "/api/lab-instances/nope", `{"spec":{"duration_minutes":5}}`, "Content-Type", mp).problem(t, http.StatusNotFound, api.ENOTFOUND)
	})
}

func TestDelete(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *env) {
		// Without finalizers: 200 with the last state, then gone.
		plain := e.create("plain")
		e.do("DELETE", "/api/lab-instances/plain", "", "If-Match", etagOf(plain.Metadata.ResourceVersion+1000)).problem(t, http.StatusConflict, api.ECONFLICT)
		e.do("DELETE", "/api/lab-instances/plain?resource_version="+itoa(plain.Metadata.ResourceVersion+1000), "").problem(t, http.StatusConflict, api.ECONFLICT)
		r := e.do("DELETE", "/api/lab-instances/plain", "", "If-Match", etagOf(plain.Metadata.ResourceVersion)).want(t, http.StatusOK)
		if last := r.lab(t); last.Metadata.UID != plain.Metadata.UID || last.Metadata.DeletionTimestamp == nil {
			t.Fatalf("last state %+v", last.Metadata)
		}
		if r.header.Get("ETag") == "" {
			t.Fatal("DELETE without ETag")
		}
		e.do("GET", "/api/lab-instances/plain", "").problem(t, http.StatusNotFound, api.ENOTFOUND)
		e.do("DELETE", "/api/lab-instances/plain", "").problem(t, http.StatusNotFound, api.ENOTFOUND)

		// With a finalizer: 202, the lab stays, marked.
		body := `{"metadata":{"name":"fin","finalizers":["` + api.Finalizer + `"]},"spec":{"lab_template":"python:3","student_email":"a@b.edu","duration_minutes":5}}`
		e.do("POST", "/api/lab-instances/", body).want(t, http.StatusCreated)
		r = e.do("DELETE", "/api/lab-instances/fin", "").want(t, http.StatusAccepted)
		marked := r.lab(t)
		if marked.Metadata.DeletionTimestamp == nil || !marked.Metadata.HasFinalizer(api.Finalizer) {
			t.Fatalf("marked %+v", marked.Metadata)
		}
		if again := e.do("DELETE", "/api/lab-instances/fin", "").want(t, http.StatusAccepted).lab(t); !again.Metadata.DeletionTimestamp.Equal(*marked.Metadata.DeletionTimestamp) {
			t.Fatal("a second DELETE moved deletion_timestamp")
		}
		e.get("fin")

		// Now finalizers can only be removed, nothing else changes.
		p := e.do("PATCH", "/api/lab-instances/fin", `{"metadata":{"finalizers":["`+api.Finalizer+`","example.com/other"]}}`, "Content-Type", "application/merge-patch+json").
			problem(t, http.StatusUnprocessableEntity, api.EINVALID)
		wantField(t, p, "metadata.finalizers")
		p = e.do("PATCH", "/api/lab-instances/fin", `{"spec":{"duration_minutes":9}}`, "Content-Type", "application/merge-patch+json").
			problem(t, http.StatusUnprocessableEntity, api.EINVALID)
		wantField(t, p, "spec")
		// PUT without the finalizers field keeps them (the lab stays).
		keep := marked.DeepCopy()
		keep.Metadata.Finalizers = nil
		keep.Metadata.ResourceVersion = 0
		e.do("PUT", "/api/lab-instances/fin", manifest(keep), "If-Match", "*").want(t, http.StatusOK)
		if still := e.get("fin"); !still.Metadata.HasFinalizer(api.Finalizer) {
			t.Fatal("a PUT without finalizers dropped them")
		}

		// Removing the last finalizer completes the deletion.
		r = e.do("PATCH", "/api/lab-instances/fin", `{"metadata":{"finalizers":null}}`, "Content-Type", "application/merge-patch+json").want(t, http.StatusOK)
		if last := r.lab(t); len(last.Metadata.Finalizers) != 0 {
			t.Fatalf("last state %+v", last.Metadata)
		}
		e.do("GET", "/api/lab-instances/fin", "").problem(t, http.StatusNotFound, api.ENOTFOUND)

		// The history of a deleted lab is still served while kept.
		var events api.LabEventList
		decodeJSON(t, e.do("GET", "/api/lab-instances/fin/events", "").want(t, http.StatusOK).body, &events)
		if n := len(events.Items); n < 3 || events.Items[n-1].Type != api.EventDeleted {
			t.Fatalf("history of deleted lab: %+v", events.Items)
		}
	})
}

func TestConditionalGet(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *env) {
		l := e.create("cond")
		r := e.do("GET", "/api/lab-instances/cond", "", "If-None-Match", etagOf(l.Metadata.ResourceVersion)).want(t, http.StatusNotModified)
		if len(r.body) != 0 || r.header.Get("ETag") != etagOf(l.Metadata.ResourceVersion) {
			t.Fatalf("304 with body %q, ETag %q", r.body, r.header.Get("ETag"))
		}
		e.do("GET", "/api/lab-instances/cond", "", "If-None-Match", etagOf(l.Metadata.ResourceVersion+1000)).want(t, http.StatusOK)
	})
}
