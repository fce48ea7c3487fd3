package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/client"
	"github.com/labrm/terraform-provider-lab/server/store"
)

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
	cl, err := client.New("http://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := cl.Health(ctx); err != nil || h.Status != "healthy" || h.Version != "v9.9.9-test" {
		t.Fatalf("health %+v, %v", h, err)
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
