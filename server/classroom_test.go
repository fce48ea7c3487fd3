package server_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/internal/client"
	"github.com/labrm/terraform-provider-lab/server"
	"github.com/labrm/terraform-provider-lab/server/servertest"
)

// startLabd runs labd in-process on cfg until the test ends.
func startLabd(t *testing.T, cfg server.Config) *client.Client {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("labd stopped with %v", err)
		}
	})
	cl, err := client.New("http://" + s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func dockerCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	return string(out), err
}

func waitLab(t *testing.T, cl *client.Client, key api.Key, what string, cond func(*api.LabInstanceRequest) bool) *api.LabInstanceRequest {
	t.Helper()
	var last *api.LabInstanceRequest
	servertest.Eventually(t, key.String()+" "+what, 90*time.Second, func() bool {
		l, err := cl.Get(context.Background(), key)
		if err != nil {
			return false
		}
		last = l
		return cond(l)
	})
	return last
}

func phaseIs(p api.Phase) func(*api.LabInstanceRequest) bool {
	return func(l *api.LabInstanceRequest) bool { return l.Status.Phase == p }
}

// noContainer waits until Docker has no container labelled with the lab's uid.
func noContainer(t *testing.T, uid string) {
	t.Helper()
	servertest.Eventually(t, "no container of lab "+uid, 60*time.Second, func() bool {
		out, err := dockerCLI(t, "ps", "-a", "-q", "--filter", "label=resource-uid="+uid)
		return err == nil && strings.TrimSpace(out) == ""
	})
}

// TestClassroomEndToEnd drives labd, as deployed with default settings
// (capacity from the engine, default requests), through the classroom
// features over HTTP, on PostgreSQL and the real Docker engine: a
// student's workspace kept across labs and removed on request, an ended
// lab's output after its container is gone, capacity answered by the
// leader and by an API-only replica, and a collection stop of one course.
func TestClassroomEndToEnd(t *testing.T) {
	t.Parallel()
	image := servertest.Docker(t)
	dbURL := servertest.PostgresURL(t)
	cl := startLabd(t, server.Config{DatabaseURL: dbURL, Controller: true, InstanceID: "class-leader", PublishIP: "127.0.0.1"})
	apiOnly := startLabd(t, server.Config{DatabaseURL: dbURL, InstanceID: "class-api"})
	ctx := context.Background()
	var created []string
	t.Cleanup(func() {
		for _, n := range created {
			cl.Delete(context.Background(), api.Key{Namespace: "class", Name: n})
		}
		for _, s := range []string{"alice@university.edu", "bob@university.edu"} {
			servertest.Eventually(t, "workspace of "+s+" removed", 60*time.Second, func() bool {
				_, err := cl.DeleteWorkspace(context.Background(), "class", s)
				return err == nil || api.IsNotFound(err)
			})
		}
	})
	lab := func(name, student, course string, env api.StringMap) api.Key {
		t.Helper()
		created = append(created, name)
		_, err := cl.Create(ctx, &api.LabInstanceRequest{
			Metadata: api.ObjectMeta{Name: name, Namespace: "class", Labels: api.StringMap{"course": course}},
			Spec: api.Spec{LabTemplate: image, StudentEmail: student, DurationMinutes: 30, Environment: env,
				Workspace: &api.Workspace{MountPath: "/home/student"}},
		})
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		return api.Key{Namespace: "class", Name: name}
	}

	// Alice writes in her workspace; her lab ends.
	a1 := lab("alice-1", "alice@university.edu", "cs101", nil)
	l := waitLab(t, cl, a1, "RUNNING", phaseIs(api.PhaseRunning))
	if l.Spec.ResourceRequests == nil || l.Spec.ResourceRequests.CPU != api.DefaultRequestCPU || l.Status.ResourceAllocation["cpu"] != api.DefaultRequestCPU {
		t.Fatalf("default requests not reserved: spec %+v, allocation %v", l.Spec.ResourceRequests, l.Status.ResourceAllocation)
	}
	if out, err := dockerCLI(t, "exec", l.Status.ContainerID, "sh", "-c", "echo week one > /home/student/notes.txt"); err != nil {
		t.Fatalf("write: %v: %s", err, out)
	}
	if _, err := cl.Stop(ctx, a1); err != nil {
		t.Fatal(err)
	}
	ended := waitLab(t, cl, a1, "COMPLETED", phaseIs(api.PhaseCompleted))
	noContainer(t, ended.Metadata.UID)
	// Its output is still there, from the store, on either replica.
	for _, c := range []*client.Client{cl, apiOnly} {
		out, err := c.Logs(ctx, a1, 20)
		if err != nil || !strings.Contains(out, "lab test image: started") || !strings.Contains(out, "terminated by signal") {
			t.Fatalf("logs of the ended lab: %q, %v", out, err)
		}
	}

	// Her next lab finds the notes; Bob's workspace is his own.
	a2 := lab("alice-2", "Alice@University.edu", "cs101", nil)
	l = waitLab(t, cl, a2, "RUNNING", phaseIs(api.PhaseRunning))
	if out, err := dockerCLI(t, "exec", l.Status.ContainerID, "cat", "/home/student/notes.txt"); err != nil || out != "week one\n" {
		t.Fatalf("alice's next lab reads %q, %v", out, err)
	}
	b1 := lab("bob-1", "bob@university.edu", "cs102", nil)
	lb := waitLab(t, cl, b1, "RUNNING", phaseIs(api.PhaseRunning))
	if out, err := dockerCLI(t, "exec", lb.Status.ContainerID, "ls", "-A", "/home/student"); err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("bob's workspace holds %q, %v", out, err)
	}

	// Capacity: the leader's ledger and the API-only replica's recount agree.
	lead, err := cl.Capacity(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	other, err := apiOnly.Capacity(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if lead.Source != "leader" || other.Source != "store" || lead.Reserved != other.Reserved || lead.Total != other.Total ||
		lead.Admitted != 2 || other.RecordedBy != "class-leader" {
		t.Fatalf("capacity: leader %+v, api-only %+v", lead, other)
	}
	// The most one lab may be given is the engine's own CPUs and memory,
	// the same on either replica.
	info, err := dockerCLI(t, "info", "--format", "{{.NCPU}} {{.MemTotal}}")
	if err != nil {
		t.Fatal(err)
	}
	var ncpu, mem int64
	fmt.Sscan(info, &ncpu, &mem)
	want := api.Resources{CPU: api.FormatCPU(ncpu * 1000), Memory: api.FormatMemory(mem)}
	if lead.MaxPerLab == nil || other.MaxPerLab == nil || *lead.MaxPerLab != want || *other.MaxPerLab != want {
		t.Fatalf("max_per_lab: leader %+v, api-only %+v, want %+v (docker info)", lead.MaxPerLab, other.MaxPerLab, want)
	}

	// Workspaces: both listed, alice's held by alice-2, so kept.
	wss, err := cl.Workspaces(ctx, "class", "")
	if err != nil || len(wss) != 2 || wss[0].StudentEmail != "alice@university.edu" || strings.Join(wss[0].Labs, ",") != "alice-2" {
		t.Fatalf("workspaces %+v, %v", wss, err)
	}
	if _, err := cl.DeleteWorkspace(ctx, "class", "alice@university.edu"); api.ErrorCode(err) != api.ECONFLICT {
		t.Fatalf("delete a held workspace: %v, want a conflict", err)
	}
	// Stop course cs101 only: alice-2 ends, bob-1 runs on.
	res, err := cl.StopCollection(ctx, client.CollectionOptions{Namespace: "class", LabelSelector: map[string]string{"course": "cs101"}})
	if err != nil || len(res.Items) != 1 || res.Items[0].Name != "alice-2" {
		t.Fatalf("stop cs101: %+v, %v", res, err)
	}
	ended = waitLab(t, cl, a2, "COMPLETED", phaseIs(api.PhaseCompleted))
	noContainer(t, ended.Metadata.UID)
	if l, _ := cl.Get(ctx, b1); l.Status.Phase != api.PhaseRunning {
		t.Fatalf("bob-1 is %s after stopping cs101", l.Status.Phase)
	}
	// Now alice's workspace goes, volume and files.
	removed, err := cl.DeleteWorkspace(ctx, "class", "alice@university.edu")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := dockerCLI(t, "volume", "inspect", removed.Name); err == nil {
		t.Fatalf("volume %s still there after the workspace was deleted: %s", removed.Name, out)
	}
	if _, err := cl.DeleteWorkspace(ctx, "class", "alice@university.edu"); !api.IsNotFound(err) {
		t.Fatalf("second delete: %v, want not found", err)
	}
}
