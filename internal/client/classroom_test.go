package client

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// TestClassroomRequests: the collection, workspace and capacity calls send
// the method, path and query the API documents, and decode the answers.
func TestClassroomRequests(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.RequestURI())
		mu.Unlock()
		switch r.URL.Path {
		case "/api/status/capacity":
			writeJSON(w, 200, api.CapacityStatus{Total: api.Resources{CPU: "2", Memory: "24Gi"}, Queued: 1,
				Queue: []api.QueuedLab{{Position: 1, Name: "late"}}})
		case "/api/workspaces/":
			writeJSON(w, 200, api.StudentWorkspaceList{Items: []api.StudentWorkspace{{Namespace: "cs101", StudentEmail: "a@u.edu", Name: "ws-1"}}})
		case "/api/workspaces/cs101/a@u.edu":
			problem(w, 409, api.ECONFLICT, "held by lab a-1")
		default:
			writeJSON(w, 200, api.CollectionResult{DryRun: r.URL.Query().Get("dry_run") == "true",
				Items: []api.AffectedLab{{Namespace: "cs101", Name: "a-1", Result: api.ResultDeleting}}})
		}
	}))
	ctx := context.Background()
	st, err := c.Capacity(ctx, 5)
	if err != nil || st.Total.CPU != "2" || len(st.Queue) != 1 {
		t.Fatalf("capacity %+v, %v", st, err)
	}
	wss, err := c.Workspaces(ctx, "cs101", "a@u.edu")
	if err != nil || len(wss) != 1 || wss[0].Name != "ws-1" {
		t.Fatalf("workspaces %+v, %v", wss, err)
	}
	if _, err := c.DeleteWorkspace(ctx, "cs101", "a@u.edu"); api.ErrorCode(err) != api.ECONFLICT {
		t.Fatalf("delete workspace: %v, want a conflict", err)
	}
	res, err := c.DeleteCollection(ctx, CollectionOptions{Namespace: "cs101", LabelSelector: map[string]string{"course": "cs101"}, DryRun: true})
	if err != nil || !res.DryRun || len(res.Items) != 1 {
		t.Fatalf("delete collection %+v, %v", res, err)
	}
	if _, err := c.StopCollection(ctx, CollectionOptions{All: true}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"GET /api/status/capacity?limit=5",
		"GET /api/workspaces/?namespace=cs101&student_email=a%40u.edu",
		"DELETE /api/workspaces/cs101/a@u.edu",
		"DELETE /api/lab-instances/?dry_run=true&label_selector=course%3Dcs101&namespace=cs101",
		"POST /api/lab-instances/stop?all=true",
	}
	mu.Lock()
	defer mu.Unlock()
	for i, w := range want {
		if i >= len(seen) || seen[i] != w {
			t.Fatalf("requests %q, want %q", seen, want)
		}
	}
}
