package deploy

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/server/servertest"
)

// docker runs the docker CLI, bounded, and returns its stdout; stderr is
// in the error.
func docker(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func mustDocker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := docker(t.Context(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// imageConfig is what `docker image inspect` says that the checks read.
type imageConfig struct {
	ID           string `json:"Id"`
	Os           string
	Architecture string
	Config       struct {
		User         string
		Entrypoint   []string
		Cmd          []string
		Env          []string
		WorkingDir   string
		ExposedPorts map[string]struct{}
	}
	RootFS struct{ Layers []string }
}

func inspectImage(t *testing.T, ref string) imageConfig {
	t.Helper()
	var out []imageConfig
	if err := json.Unmarshal([]byte(mustDocker(t, "image", "inspect", ref)), &out); err != nil || len(out) != 1 {
		t.Fatalf("inspect %s: %v", ref, err)
	}
	return out[0]
}

// layerFile is a file of an image layer; data is read for small files.
type layerFile struct {
	*tar.Header
	data []byte
}

// layerFiles returns the files of the image's layers, by path, from
// `docker save`.
func layerFiles(t *testing.T, ref string) map[string]layerFile {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "save", ref)
	var saved, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &saved, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("docker save: %v: %s", err, stderr.String())
	}
	// The archive: manifest.json naming the layers, and each layer a tar.
	blobs := map[string][]byte{}
	tr := tar.NewReader(&saved)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		blobs[h.Name] = b
	}
	var manifest []struct{ Layers []string }
	if err := json.Unmarshal(blobs["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("docker save manifest: %v %s", err, blobs["manifest.json"])
	}
	files := map[string]layerFile{}
	for _, l := range manifest[0].Layers {
		lr := tar.NewReader(bytes.NewReader(blobs[l]))
		for {
			h, err := lr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("layer %s: %v", l, err)
			}
			f := layerFile{Header: h}
			if h.Typeflag == tar.TypeReg && h.Size < 64<<10 {
				if f.data, err = io.ReadAll(lr); err != nil {
					t.Fatal(err)
				}
			}
			files[strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")] = f
		}
	}
	return files
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestImage builds the labd image with scripts/image.sh (as make image
// does) and checks it: FROM scratch (one layer, no shell, nothing but
// labd, CA certificates, passwd and its directories), a non-root user,
// the version stamped, and that it refuses to serve 0.0.0.0 without
// tokens. Then it runs it as the Deployment in this directory does —
// read-only root file system, tokens from a mounted file, PostgreSQL, the
// Docker socket — and talks to it.
func TestImage(t *testing.T) {
	t.Parallel()
	servertest.Docker(t)
	if testing.Short() {
		t.Skip("builds an image")
	}
	ctx := t.Context()
	suffix := make([]byte, 4)
	rand.Read(suffix)
	repo, version := "labrm/labd-imagetest", "0.0.0-test."+hex.EncodeToString(suffix)
	ref := repo + ":" + version
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := docker(ctx, "image", "rm", "--force", ref, repo+":latest"); err != nil {
			t.Logf("remove test image: %v", err)
		}
	})

	// Build, as `make image` does but under a test name.
	bctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	build := exec.CommandContext(bctx, "scripts/image.sh")
	build.Dir = filepath.Join("..", "..")
	build.Env = append(os.Environ(), "IMAGE="+repo, "VERSION="+version)
	out, err := build.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/image.sh: %v\n%s", err, out)
	}
	if !strings.HasSuffix(strings.TrimSpace(string(out)), ref) {
		t.Fatalf("scripts/image.sh did not print the image name last:\n%s", out)
	}

	img := inspectImage(t, ref)
	if latest := inspectImage(t, repo+":latest"); latest.ID != img.ID {
		t.Errorf("%s:latest is %s, %s is %s", repo, latest.ID, ref, img.ID)
	}
	uid, gid, ok := strings.Cut(img.Config.User, ":")
	if n, err := strconv.Atoi(uid); !ok || err != nil || n == 0 || gid == "0" {
		t.Errorf("image user %q, want a numeric non-root uid:gid", img.Config.User)
	}
	if len(img.RootFS.Layers) != 1 {
		t.Errorf("image has %d layers, want 1 (FROM scratch)", len(img.RootFS.Layers))
	}
	if img.Os != "linux" || strings.Join(img.Config.Entrypoint, " ") != "/labd" || img.Config.WorkingDir != "/var/lib/labd" {
		t.Errorf("image os %s, entrypoint %v, workdir %s", img.Os, img.Config.Entrypoint, img.Config.WorkingDir)
	}
	if _, ok := img.Config.ExposedPorts["8000/tcp"]; !ok {
		t.Errorf("image exposes %v, want 8000/tcp", img.Config.ExposedPorts)
	}
	envs := strings.Join(img.Config.Env, "\n")
	if !strings.Contains(envs, "LAB_LISTEN=0.0.0.0:8000") {
		t.Errorf("image env %v lacks LAB_LISTEN=0.0.0.0:8000", img.Config.Env)
	}

	// Its files: labd and what it needs, owned by root, and nothing else.
	files := layerFiles(t, ref)
	for path, want := range map[string]struct {
		uid  int
		mode int64
	}{
		"labd": {0, 0o755}, "etc/passwd": {0, 0o644}, "etc/group": {0, 0o644},
		"etc/ssl/certs/ca-certificates.crt": {0, 0o644}, "tmp": {0, 0o1777}, "var/lib/labd": {65532, 0o750},
	} {
		h, ok := files[path]
		if !ok {
			t.Errorf("image lacks /%s", path)
			continue
		}
		if h.Uid != want.uid || h.Mode&0o7777 != want.mode {
			t.Errorf("/%s: uid %d mode %o, want %d %o", path, h.Uid, h.Mode&0o7777, want.uid, want.mode)
		}
	}
	for path, h := range files {
		dir, _, _ := strings.Cut(path, "/")
		if path != "labd" && dir != "etc" && dir != "tmp" && dir != "var" && path != "." && path != "" {
			t.Errorf("unexpected file /%s in a FROM scratch image", path)
		}
		if h.Typeflag == tar.TypeReg && path != "labd" && h.Mode&0o111 != 0 {
			t.Errorf("/%s is executable", path)
		}
	}
	if !strings.Contains(string(files["etc/passwd"].data), ":"+uid+":"+gid+":") {
		t.Errorf("/etc/passwd has no entry for uid %s", uid)
	}

	// It runs, knows its version, and has no shell.
	if got := mustDocker(t, "run", "--rm", ref, "--version"); got != "labd "+version+"\n" {
		t.Errorf("--version printed %q", got)
	}
	if out, err := docker(ctx, "run", "--rm", "--entrypoint", "/bin/sh", ref, "-c", "true"); err == nil {
		t.Errorf("the image has a shell: %q", out)
	}
	// Without tokens, the image's 0.0.0.0:8000 is refused, exit status 2.
	_, err = docker(ctx, "run", "--rm", ref)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(err.Error(), "refusing to listen on 0.0.0.0:8000 without API tokens") {
		t.Errorf("run without tokens: %v, want exit 2 and the refusal", err)
	}

	runLikeDeployment(t, ref, version)
}

// runLikeDeployment runs the image as 30-labd.yaml does — read-only root,
// token file mounted read-only, PostgreSQL, the Docker socket through its
// group, the controller on — and checks readiness, tokens and a clean
// stop.
func runLikeDeployment(t *testing.T, ref, version string) {
	t.Helper()
	ctx := t.Context()
	const rw, ro = "rw-image-test-0123456789abcdef", "ro-image-test-0123456789abcdef"
	tokens := filepath.Join(t.TempDir(), "api-tokens")
	if err := os.WriteFile(tokens, []byte("rw:"+rw+"\nro:"+ro+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); h != "" && h != "unix://"+sock {
		t.Fatalf("DOCKER_HOST=%s: this test mounts the local socket %s", h, sock)
	}
	st, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	sockGID := strconv.FormatUint(uint64(st.Sys().(*syscall.Stat_t).Gid), 10)
	port := strconv.Itoa(freePort(t))
	name := "labd-imagetest-" + strings.TrimPrefix(version, "0.0.0-test.")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		docker(ctx, "rm", "--force", name)
	})
	mustDocker(t, "run", "--detach", "--name", name,
		// As the Deployment's securityContext.
		"--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
		"--volume", tokens+":/etc/labd/api-tokens:ro",
		"--volume", sock+":"+sock, "--group-add", sockGID,
		// The host's network, to reach the test PostgreSQL on loopback;
		// labd then listens on a loopback port of the host.
		"--network", "host",
		"--env", "LAB_LISTEN=127.0.0.1:"+port,
		"--env", "LAB_DATABASE_URL="+servertest.PostgresURL(t),
		"--env", "LAB_API_TOKEN_FILE=/etc/labd/api-tokens",
		"--env", "LAB_INSTANCE_ID="+name,
		"--env", "DOCKER_HOST=unix://"+sock,
		ref)
	// labd logs to stderr, which `docker logs` replays on its stderr.
	logs := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, _ := exec.CommandContext(ctx, "docker", "logs", name).CombinedOutput()
		return string(out)
	}
	base := "http://127.0.0.1:" + port
	get := func(method, path, token string) (int, []byte) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, method, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, []byte(err.Error())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}

	// Ready means the database and Docker answer, as the readiness probe
	// sees it.
	deadline := time.Now().Add(90 * time.Second)
	for {
		code, body := get("GET", "/api/status/ready", "")
		if code == http.StatusOK {
			var r struct {
				Status string
				Checks map[string]string
			}
			if err := json.Unmarshal(body, &r); err != nil || r.Checks["database"] != "ok" || r.Checks["docker"] != "ok" {
				t.Fatalf("ready: %v %s", err, body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within 90s: %d %s\nlogs:\n%s", code, body, logs())
		}
		time.Sleep(250 * time.Millisecond)
	}
	for _, c := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/api/status/health", "", http.StatusOK},
		{"GET", "/api/lab-instances/", "", http.StatusUnauthorized},
		{"GET", "/api/lab-instances/", ro, http.StatusOK},
		{"GET", "/api/lab-instances/", rw, http.StatusOK},
		{"POST", "/api/lab-instances/", ro, http.StatusForbidden},
	} {
		if code, body := get(c.method, c.path, c.token); code != c.want {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, code, c.want, body)
		}
	}

	// SIGTERM: a clean stop, exit status 0.
	mustDocker(t, "stop", "--time", "30", name)
	if code := strings.TrimSpace(mustDocker(t, "inspect", "--format", "{{.State.ExitCode}}", name)); code != "0" {
		t.Errorf("labd exited %s after SIGTERM; logs:\n%s", code, logs())
	}
	out := logs()
	if !strings.Contains(out, `"msg":"labd started"`) || !strings.Contains(out, `"store":"postgres"`) || !strings.Contains(out, `"version":"`+version+`"`) {
		t.Errorf("start line missing or wrong:\n%s", out)
	}
	if strings.Contains(out, rw) || strings.Contains(out, ro) {
		t.Errorf("a token appears in the logs:\n%s", out)
	}
}
