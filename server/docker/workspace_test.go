package docker_test

import (
	"errors"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/server/docker"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// TestWorkspaceVolume: Ensure creates the workspace volume, labelled, and
// mounts it; removing the container leaves the volume; RemoveWorkspace
// refuses while a container mounts it and removes it afterwards; a volume
// of that name that is not our workspace is not handed out.
func TestWorkspaceVolume(t *testing.T) {
	t.Parallel()
	r, img := newEngine(t, docker.Config{PublishIP: "127.0.0.1"})
	ctx := ctxT(t, 2*time.Minute)
	installation := "test-" + randHex(4)
	name := workload.WorkspaceName(installation, "default", "Student@University.edu")
	t.Cleanup(func() { r.RemoveWorkspace(ctxT(t, time.Minute), name) })
	spec := newSpec(t, r, img, nil)
	spec.Workspace = &workload.Mount{Workspace: name, Path: "/home/student", Labels: workload.WorkspaceLabels(installation, "default", "Student@University.edu")}
	st, err := r.Ensure(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	ins, err := r.Client().ContainerInspect(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ins.Mounts) != 1 || ins.Mounts[0].Name != name || ins.Mounts[0].Destination != "/home/student" {
		t.Fatalf("mounts %+v, want the workspace at /home/student", ins.Mounts)
	}
	all, err := r.ListWorkspaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var found *workload.Workspace
	for i := range all {
		if all[i].Name == name {
			found = &all[i]
		}
	}
	if found == nil || found.Labels[workload.LabelStudent] != "student@university.edu" || !workload.Ours(found.Labels, installation) ||
		found.Labels[workload.LabelKind] != workload.KindWorkspace || found.Created.IsZero() {
		t.Fatalf("listed workspace %+v", found)
	}
	if err := r.RemoveWorkspace(ctx, name); !errors.Is(err, workload.ErrInUse) {
		t.Fatalf("remove a mounted workspace: %v, want ErrInUse", err)
	}
	if err := r.Remove(ctx, spec.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Client().VolumeInspect(ctx, name); err != nil {
		t.Fatalf("removing the container removed the workspace: %v", err)
	}
	if err := r.RemoveWorkspace(ctx, name); err != nil {
		t.Fatal(err)
	}
	if err := r.RemoveWorkspace(ctx, name); err != nil {
		t.Fatalf("removing a gone workspace: %v", err)
	}
	// Another installation's volume of the same name is refused.
	other := newSpec(t, r, img, nil)
	other.Workspace = &workload.Mount{Workspace: name, Path: "/data", Labels: workload.WorkspaceLabels("someone-else", "default", "x@y.z")}
	if _, err := r.Ensure(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Ensure(ctx, withName(spec, "labrm-test-"+randHex(6))); err == nil {
		t.Fatal("a workspace volume of another installation was mounted")
	}
	r.Remove(ctx, other.Name)
}

func withName(s workload.Spec, name string) workload.Spec {
	s.Name = name
	return s
}
