package docker_test

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/server/docker"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// shIn runs a shell command in a running container with the docker CLI
// (as an operator would check) and returns its output and error.
func shIn(t *testing.T, id, script string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "exec", id, "sh", "-c", script).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// procStatus reads one field of /proc/1/status in the container.
func procStatus(t *testing.T, id, field string) string {
	t.Helper()
	out, err := shIn(t, id, "grep '^"+field+":' /proc/1/status")
	if err != nil {
		t.Fatalf("read %s: %v: %s", field, err, out)
	}
	return strings.TrimSpace(strings.TrimPrefix(out, field+":"))
}

// capMask is the capability set of harden.go as the kernel shows it:
// CHOWN(0) DAC_OVERRIDE(1) FOWNER(3) KILL(5) SETGID(6) SETUID(7)
// NET_BIND_SERVICE(10).
const capMask = "00000000000004eb"

// TestHardeningProfile shows the default profile with docker inspect and
// from inside the container: all capabilities dropped but the documented
// set, no-new-privileges, the default seccomp filter, the pids limit, no
// privileges, a writable root file system and the image's user.
func TestHardeningProfile(t *testing.T) {
	t.Parallel()
	r, img := newEngine(t, docker.Config{})
	spec := newSpec(t, r, img, nil)
	ctx := ctxT(t, 2*time.Minute)
	st, err := r.Ensure(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := r.Client().ContainerInspect(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	hc := raw.HostConfig
	wantAdd := []string{"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "KILL", "NET_BIND_SERVICE"}
	if !slices.Equal(hc.CapDrop, []string{"ALL"}) || !sameSet(hc.CapAdd, wantAdd) {
		t.Errorf("capabilities: drop %v add %v, want drop [ALL] add %v", hc.CapDrop, hc.CapAdd, wantAdd)
	}
	if !slices.Equal(hc.SecurityOpt, []string{"no-new-privileges:true"}) {
		t.Errorf("security opts %v (no seccomp or apparmor override may appear)", hc.SecurityOpt)
	}
	if hc.Privileged || hc.ReadonlyRootfs || raw.Config.User != "" || len(hc.Devices) > 0 || hc.PidsLimit == nil || *hc.PidsLimit != spec.PidsLimit {
		t.Errorf("privileged %v read-only %v user %q devices %v pids %v", hc.Privileged, hc.ReadonlyRootfs, raw.Config.User, hc.Devices, hc.PidsLimit)
	}
	// Inside: the kernel's view of the same.
	for field, want := range map[string]string{"Seccomp": "2", "NoNewPrivs": "1", "CapBnd": capMask, "CapEff": capMask} {
		if got := procStatus(t, st.ID, field); got != want {
			t.Errorf("/proc/1/status %s = %q, want %q", field, got, want)
		}
	}
	if out, err := shIn(t, st.ID, "touch /written && echo ok"); err != nil || out != "ok" {
		t.Errorf("root file system not writable by default: %v %s", err, out)
	}
}

// TestRunAsUserAndReadOnlyRoot: security_context's user and read-only root
// file system, shown with docker inspect and from inside: the user's id,
// no effective capabilities, / refuses writes, /tmp takes them.
func TestRunAsUserAndReadOnlyRoot(t *testing.T) {
	t.Parallel()
	r, img := newEngine(t, docker.Config{})
	spec := newSpec(t, r, img, nil)
	uid := int64(1000)
	spec.RunAsUser, spec.ReadOnlyRootFilesystem = &uid, true
	ctx := ctxT(t, 2*time.Minute)
	st, err := r.Ensure(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	st = waitState(t, r, spec.Name, 30*time.Second, "running", func(s workload.Status) bool { return s.State == workload.Running })
	raw, err := r.Client().ContainerInspect(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if raw.Config.User != "1000" || !raw.HostConfig.ReadonlyRootfs || raw.HostConfig.Tmpfs["/tmp"] == "" {
		t.Fatalf("user %q read-only %v tmpfs %v", raw.Config.User, raw.HostConfig.ReadonlyRootfs, raw.HostConfig.Tmpfs)
	}
	if out, _ := shIn(t, st.ID, "id -u"); out != "1000" {
		t.Errorf("id -u = %q", out)
	}
	if got := procStatus(t, st.ID, "CapEff"); got != "0000000000000000" {
		t.Errorf("a non-root lab has effective capabilities %s", got)
	}
	if out, err := shIn(t, st.ID, "touch /etc/written"); err == nil {
		t.Errorf("wrote to a read-only root file system: %s", out)
	}
	if out, err := shIn(t, st.ID, "echo hi > /tmp/x && cat /tmp/x"); err != nil || out != "hi" {
		t.Errorf("/tmp not writable: %v %s", err, out)
	}
}

// TestInstallationSecurityDefaults: the installation's user and read-only
// root apply to labs whose spec sets neither; a lab's own user wins.
func TestInstallationSecurityDefaults(t *testing.T) {
	t.Parallel()
	def := int64(2000)
	r, img := newEngine(t, docker.Config{RunAsUser: &def, ReadOnlyRootFilesystem: true})
	ctx := ctxT(t, 2*time.Minute)
	plain := newSpec(t, r, img, nil)
	own := newSpec(t, r, img, nil)
	mine := int64(3000)
	own.RunAsUser = &mine
	for spec, user := range map[*workload.Spec]string{&plain: "2000", &own: "3000"} {
		st, err := r.Ensure(ctx, *spec)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := r.Client().ContainerInspect(ctx, st.ID)
		if err != nil {
			t.Fatal(err)
		}
		if raw.Config.User != user || !raw.HostConfig.ReadonlyRootfs {
			t.Errorf("%s: user %q read-only %v, want %s and read-only", spec.Name, raw.Config.User, raw.HostConfig.ReadonlyRootfs, user)
		}
	}
}

func sameSet(a, b []string) bool {
	norm := func(s []string) []string {
		out := make([]string, len(s))
		for i, x := range s {
			out[i] = strings.TrimPrefix(x, "CAP_")
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(norm(a), norm(b))
}
