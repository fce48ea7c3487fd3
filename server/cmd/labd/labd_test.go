package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/store"
)

func get(t *testing.T, url string, v any) int {
	t.Helper()
	return call(t, "GET", url, "", v)
}

func call(t *testing.T, method, url, body string, v any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, b, err)
		}
	}
	return resp.StatusCode
}

// TestLabdInProcess starts labd on a random port with an embedded SQLite
// store, runs the design document's walk-through, and stops it with an
// open watch stream, which must not hold up the shutdown.
func TestLabdInProcess(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "labd.db")
	cfg, err := parseConfig([]string{"--listen=127.0.0.1:0", "--database-url=sqlite:" + dbPath, "--shutdown-timeout=20s"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := newApp(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- a.run(ctx) }()
	base := "http://" + a.addr().String()

	var h api.Health
	if code := get(t, base+"/api/status/health", &h); code != 200 || h.Status != "healthy" || h.Version != version {
		t.Fatalf("health %d %+v", code, h)
	}
	var ready api.Ready
	if code := get(t, base+"/api/status/ready", &ready); code != 200 || ready.Checks["database"] != "ok" {
		t.Fatalf("ready %d %+v", code, ready)
	}
	var created api.LabInstanceRequest
	code := call(t, "POST", base+"/api/lab-instances/", `{"name":"my-python-lab","namespace":"default","lab_template":"python:3.9-alpine","student_email":"student@university.edu","duration_minutes":60,"environment":{"LAB_TYPE":"python-basics"}}`, &created)
	if code != 201 || created.Status.Phase != api.PhasePending {
		t.Fatalf("create %d %+v", code, created)
	}
	var list api.LabInstanceRequestList
	if code := get(t, base+"/api/lab-instances/", &list); code != 200 || len(list.Items) != 1 {
		t.Fatalf("list %d %+v", code, list)
	}
	var one api.LabInstanceRequest
	if code := get(t, base+"/api/lab-instances/my-python-lab", &one); code != 200 || one.Metadata.UID != created.Metadata.UID {
		t.Fatalf("get %d %+v", code, one)
	}
	if code := get(t, base+"/api/lab-instances/?phase=RUNNING", &list); code != 200 || len(list.Items) != 0 {
		t.Fatalf("phase=RUNNING %d %+v", code, list)
	}
	if code := get(t, base+"/api/lab-instances/?student_email=student@university.edu", &list); code != 200 || len(list.Items) != 1 {
		t.Fatalf("student_email %d %+v", code, list)
	}

	// An open watch.
	wctx, wcancel := context.WithCancel(context.Background())
	defer wcancel()
	req, _ := http.NewRequestWithContext(wctx, "GET", base+"/api/lab-instances/?watch=true", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("watch: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() || !strings.Contains(sc.Text(), `"ADDED"`) {
		t.Fatalf("watch first line %q, %v", sc.Text(), sc.Err())
	}

	start := time.Now()
	cancel()
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("labd did not stop within 15s")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("shutdown took %s: the watch held it up", d)
	}
	// The watch stream was ended by the server.
	for sc.Scan() {
	}
	// The listener is closed and the store released: the file opens again.
	if _, err := http.Get(base + "/api/status/health"); err == nil {
		t.Fatal("still serving after shutdown")
	}
	octx, ocancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ocancel()
	db, err := store.Open(octx, store.Config{URL: "sqlite:" + dbPath})
	if err != nil {
		t.Fatalf("reopen store: %v", err)
	}
	defer db.Close()
	if l, err := db.GetLab(octx, api.Key{Namespace: "default", Name: "my-python-lab"}); err != nil || l.Metadata.UID != created.Metadata.UID {
		t.Fatalf("lab not persisted: %v", err)
	}
}

// TestLabdBinary builds labd with a stamped version, runs it as a process,
// and stops it with SIGTERM.
func TestLabdBinary(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "labd")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-ldflags", "-X main.version=v9.9.9-test", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil || string(out) != "labd v9.9.9-test\n" {
		t.Fatalf("--version: %q, %v", out, err)
	}
	var stderr strings.Builder
	bad := exec.CommandContext(ctx, bin, "--listen=nope")
	bad.Stderr = &stderr
	if err := bad.Run(); err == nil || bad.ProcessState.ExitCode() != 2 || !strings.Contains(stderr.String(), "--listen") {
		t.Fatalf("bad flag: exit %d, %v, %q", bad.ProcessState.ExitCode(), err, stderr.String())
	}

	cmd := exec.CommandContext(ctx, bin)
	cmd.Dir = dir // the default store file labd.db lands here
	cmd.Env = append(os.Environ(), "LAB_LISTEN=127.0.0.1:0", "LAB_LOG_FORMAT=json", "LAB_DATABASE_URL=", "LAB_INSTANCE_ID=test-replica")
	logs, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(logs)
	var addr string
	var seen []string
	for addr == "" && lines.Scan() {
		seen = append(seen, lines.Text())
		var rec map[string]any
		if json.Unmarshal(lines.Bytes(), &rec) == nil && rec["msg"] == "labd started" {
			addr, _ = rec["listen"].(string)
			if rec["store"] != "sqlite" || rec["instance_id"] != "test-replica" || rec["version"] != "v9.9.9-test" {
				t.Fatalf("start line %v", rec)
			}
		}
	}
	if addr == "" {
		t.Fatalf("no start line; logs:\n%s", strings.Join(seen, "\n"))
	}
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		for lines.Scan() {
			seen = append(seen, lines.Text())
		}
	}()
	var h api.Health
	if code := get(t, "http://"+addr+"/api/status/health", &h); code != 200 || h.Version != "v9.9.9-test" {
		t.Fatalf("health %d %+v", code, h)
	}
	if _, err := os.Stat(filepath.Join(dir, store.DefaultSQLitePath)); err != nil {
		t.Fatalf("default store file: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The log pipe ends when the process exits; Wait must come after.
	select {
	case <-logsDone:
	case <-time.After(20 * time.Second):
		t.Fatal("labd did not exit within 20s of SIGTERM")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("labd exited with %v after SIGTERM; logs:\n%s", err, strings.Join(seen, "\n"))
	}
	if last := seen[len(seen)-1]; !strings.Contains(last, "labd stopped") {
		t.Fatalf("last log line %q", last)
	}
}
