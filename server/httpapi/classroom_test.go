package httpapi_test

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/httpapi"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// specCapacity answers the capacity route with a fixed status.
type specCapacity struct{}

func (specCapacity) Capacity(_ context.Context, limit int) (api.CapacityStatus, error) {
	st := api.CapacityStatus{Total: api.Resources{CPU: "2", Memory: "24Gi"}, Reserved: api.Resources{CPU: "1500m", Memory: "7680Mi"},
		Free: api.Resources{CPU: "500m", Memory: "16896Mi"}, Admitted: 30, Queued: 1, Source: "leader", Queue: []api.QueuedLab{}}
	if limit > 0 {
		st.Queue = append(st.Queue, api.QueuedLab{Position: 1, Namespace: "default", Name: "late", UID: "7ca48970-8a4f-4f9e-9f3c-0e1d2c3b4a59",
			StudentEmail: "s@university.edu", Requests: api.Resources{CPU: "1", Memory: "2Gi"}, EligibleSince: time.Now().UTC()})
	}
	return st, nil
}

// specWorkspaces holds one workspace, of s@university.edu in default;
// busy@university.edu's is held by a lab.
type specWorkspaces struct{}

func (specWorkspaces) ListWorkspaces(_ context.Context, namespace, student string) ([]api.StudentWorkspace, error) {
	now := time.Now().UTC()
	return []api.StudentWorkspace{{Namespace: "default", StudentEmail: "s@university.edu", Name: "ws-0123456789abcdef01234567", CreatedAt: &now, Labs: []string{}}}, nil
}

func (specWorkspaces) RemoveWorkspace(_ context.Context, namespace, student string) (api.StudentWorkspace, error) {
	switch student {
	case "s@university.edu":
		return api.StudentWorkspace{Namespace: namespace, StudentEmail: student, Name: "ws-0123456789abcdef01234567", Labs: []string{}}, nil
	case "busy@university.edu":
		return api.StudentWorkspace{}, api.Errorf(api.ECONFLICT, "held by lab(s) busy-lab")
	}
	return api.StudentWorkspace{}, api.Errorf(api.ENOTFOUND, "no workspace")
}

// exerciseClassroom covers the capacity, workspace and collection routes
// for TestOpenAPIResponses.
func exerciseClassroom(t *testing.T, c *specChecker, db *store.DB, base string) {
	var st api.CapacityStatus
	c.do(base, "GET", "/api/status/capacity", 200, nil).decode(t, &st)
	if st.Queued != 1 || len(st.Queue) != 1 {
		t.Fatalf("capacity %+v", st)
	}
	c.do(base, "GET", "/api/status/capacity?limit=0", 200, nil, "Accept", yamlType)
	c.do(base, "GET", "/api/status/capacity?limit=20000", 400, nil)

	c.do(base, "GET", "/api/workspaces/", 200, nil)
	c.do(base, "GET", "/api/workspaces/?namespace=default&student_email=s@university.edu", 200, nil, "Accept", yamlType)
	c.do(base, "GET", "/api/workspaces/?namespace=Bad_Name", 400, nil)
	c.do(base, "DELETE", "/api/workspaces/default/s@university.edu", 200, nil)
	c.do(base, "DELETE", "/api/workspaces/default/busy@university.edu", 409, nil)
	c.do(base, "DELETE", "/api/workspaces/default/none@university.edu", 404, nil)
	c.do(base, "DELETE", "/api/workspaces/default/not-an-email", 400, nil)

	// Collections: no filter is refused, dry-run changes nothing.
	coll := "/api/lab-instances/"
	c.do(base, "DELETE", coll, 400, nil)
	c.do(base, "DELETE", coll+"?namespace=default", 400, nil)
	var res api.CollectionResult
	c.do(base, "DELETE", coll+"?label_selector=course%3Dcs103&namespace=other&dry_run=true", 200, nil).decode(t, &res)
	if !res.DryRun || len(res.Items) != 1 || res.Items[0].Name != "xml-lab" {
		t.Fatalf("dry run %+v", res)
	}
	ctx := context.Background()
	if _, err := db.GetLab(ctx, api.Key{Namespace: "other", Name: "xml-lab"}); err != nil {
		t.Fatalf("dry run deleted: %v", err)
	}
	c.do(base, "POST", coll+"stop?label_selector=course%3Dcs101", 200, nil, "Accept", xmlType)
	c.do(base, "POST", coll+"stop?phase=PENDING&all=true", 400, nil)
	c.do(base, "DELETE", coll+"?label_selector=course%3Dcs103&namespace=other", 200, nil, "Accept", yamlType)
	if _, err := db.GetLab(ctx, api.Key{Namespace: "other", Name: "xml-lab"}); !api.IsNotFound(err) {
		t.Fatalf("xml-lab after its collection delete: %v", err)
	}

	// Collection writes and workspace deletion need a read-write token.
	const rw, ro = "rw-token-0123456789abcdef", "ro-token-0123456789abcdef"
	tokens, err := httpapi.NewTokens([]httpapi.Token{{Secret: rw, Role: httpapi.ReadWrite}, {Secret: ro, Role: httpapi.ReadOnly}})
	if err != nil {
		t.Fatal(err)
	}
	guarded := specServer(t, httpapi.Config{Store: db, Capacity: specCapacity{}, Workspaces: specWorkspaces{}, Tokens: tokens})
	c.do(guarded, "DELETE", coll+"?all=true", 401, nil)
	c.do(guarded, "DELETE", coll+"?all=true&dry_run=true", 403, nil, "Authorization", "Bearer "+ro)
	c.do(guarded, "POST", coll+"stop?all=true", 403, nil, "Authorization", "Bearer "+ro)
	c.do(guarded, "DELETE", "/api/workspaces/default/s@university.edu", 403, nil, "Authorization", "Bearer "+ro)
	c.do(guarded, "GET", "/api/workspaces/", 401, nil)
	c.do(guarded, "GET", "/api/workspaces/", 200, nil, "Authorization", "Bearer "+ro)
	c.do(guarded, "POST", coll+"stop?all=true", 200, nil, "Authorization", "Bearer "+rw)
}

// TestCollectionOperations: delete and stop act on exactly the labs the
// filter selects, in two courses; dry-run changes nothing; both are
// idempotent; deleting everything needs all=true.
func TestCollectionOperations(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		mk := func(name, course string, finalizer bool, running bool) {
			l := &api.LabInstanceRequest{Metadata: api.ObjectMeta{Name: name, Namespace: "default", Labels: api.StringMap{"course": course}},
				Spec: api.Spec{LabTemplate: "busybox", StudentEmail: name + "@university.edu", DurationMinutes: 30}}
			if finalizer {
				l.Metadata.Finalizers = []string{api.Finalizer}
			}
			if _, err := e.db.CreateLab(ctx, l); err != nil {
				t.Fatal(err)
			}
			if running {
				_, err := e.db.UpdateLab(ctx, l.Key(), store.WriteOptions{}, func(x *api.LabInstanceRequest) error {
					for _, to := range []api.Phase{api.PhaseProvisioning, api.PhaseRunning} {
						if err := x.Transition(to, "Test", "as the controller would", time.Now()); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		mk("a1", "cs101", true, true)
		mk("a2", "cs101", true, false)
		mk("a3", "cs101", false, false)
		mk("b1", "cs102", true, true)
		mk("b2", "cs102", false, false)
		names := func(r api.CollectionResult) []string {
			var out []string
			for _, it := range r.Items {
				out = append(out, it.Name+"="+it.Result)
			}
			slices.Sort(out)
			return out
		}
		decode := func(r *response) api.CollectionResult {
			var res api.CollectionResult
			if err := json.Unmarshal(r.body, &res); err != nil {
				t.Fatalf("decode: %v: %s", err, r.body)
			}
			return res
		}
		sel := "?label_selector=" + url.QueryEscape("course=cs101")

		// Refused without a selecting filter.
		e.do("DELETE", "/api/lab-instances/", "").want(t, 400)
		e.do("POST", "/api/lab-instances/stop?namespace=default", "").want(t, 400)

		// Dry runs: what would happen, and nothing happens.
		dry := decode(e.do("DELETE", "/api/lab-instances/"+sel+"&dry_run=true", "").want(t, 200))
		if got := names(dry); !dry.DryRun || strings.Join(got, " ") != "a1=deleting a2=deleting a3=deleted" {
			t.Fatalf("dry-run delete: %v", got)
		}
		if got := names(decode(e.do("POST", "/api/lab-instances/stop"+sel+"&dry_run=true", "").want(t, 200))); strings.Join(got, " ") != "a1=stopping" {
			t.Fatalf("dry-run stop: %v", got)
		}
		for _, n := range []string{"a1", "a2", "a3", "b1", "b2"} {
			l, err := e.db.GetLab(ctx, api.Key{Namespace: "default", Name: n})
			if err != nil || l.Metadata.DeletionTimestamp != nil || len(l.Metadata.Annotations) > 0 {
				t.Fatalf("dry run changed %s: %+v %v", n, l, err)
			}
		}

		// Stop: only cs101's RUNNING lab; again: the same answer.
		for range 2 {
			if got := names(decode(e.do("POST", "/api/lab-instances/stop"+sel, "").want(t, 200))); strings.Join(got, " ") != "a1=stopping" {
				t.Fatalf("stop: %v", got)
			}
		}
		a1, _ := e.db.GetLab(ctx, api.Key{Namespace: "default", Name: "a1"})
		b1, _ := e.db.GetLab(ctx, api.Key{Namespace: "default", Name: "b1"})
		if _, ok := a1.Metadata.Annotations[api.AnnotationStopRequested]; !ok {
			t.Fatal("a1 not asked to stop")
		}
		if _, ok := b1.Metadata.Annotations[api.AnnotationStopRequested]; ok {
			t.Fatal("b1 (cs102) asked to stop")
		}

		// Delete cs101: a3 is gone, a1 and a2 wait for their finalizer;
		// again: those two still deleting, a3 no longer there.
		if got := names(decode(e.do("DELETE", "/api/lab-instances"+sel, "").want(t, 200))); strings.Join(got, " ") != "a1=deleting a2=deleting a3=deleted" {
			t.Fatalf("delete: %v", got)
		}
		if got := names(decode(e.do("DELETE", "/api/lab-instances/"+sel, "").want(t, 200))); strings.Join(got, " ") != "a1=deleting a2=deleting" {
			t.Fatalf("delete again: %v", got)
		}
		for _, n := range []string{"b1", "b2"} {
			l, err := e.db.GetLab(ctx, api.Key{Namespace: "default", Name: n})
			if err != nil || l.Metadata.DeletionTimestamp != nil {
				t.Fatalf("cs102's %s touched: %+v %v", n, l, err)
			}
		}
		// A lab named "stop" is still reached by its own routes.
		mk("stop", "cs103", false, true)
		e.do("GET", "/api/lab-instances/stop", "").want(t, 200)
		e.do("POST", "/api/lab-instances/stop/stop", "").want(t, 202)
		// Everything, explicitly.
		if got := names(decode(e.do("DELETE", "/api/lab-instances/?namespace=default&all=true", "").want(t, 200))); strings.Join(got, " ") != "a1=deleting a2=deleting b1=deleting b2=deleted stop=deleted" {
			t.Fatalf("delete all: %v", got)
		}
	})
}

func TestLastLinesOfSavedLogs(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		l, err := e.db.CreateLab(ctx, &api.LabInstanceRequest{Metadata: api.ObjectMeta{Name: "ended", Namespace: "default"},
			Spec: api.Spec{LabTemplate: "busybox", StudentEmail: "s@university.edu", DurationMinutes: 30}})
		if err != nil {
			t.Fatal(err)
		}
		e.do("GET", "/api/lab-instances/ended/logs", "").want(t, 503) // no controller, not ended
		if err := e.db.SaveLabLogs(ctx, l.Metadata.UID, store.LabLogs{Output: "one\ntwo\nthree\n", SavedAt: time.Now()}, store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err = e.db.UpdateLab(ctx, l.Key(), store.WriteOptions{}, func(x *api.LabInstanceRequest) error {
			return x.Transition(api.PhaseFailed, "Test", "ended", time.Now())
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(e.do("GET", "/api/lab-instances/ended/logs?lines=2", "").want(t, 200).body); got != "two\nthree\n" {
			t.Fatalf("saved logs, 2 lines: %q", got)
		}
		if got := string(e.do("GET", "/api/lab-instances/ended/logs", "").want(t, 200).body); got != "one\ntwo\nthree\n" {
			t.Fatalf("saved logs: %q", got)
		}
	})
}
