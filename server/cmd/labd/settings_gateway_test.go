package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/server/servertest"
)

// TestTLSReload runs the labd binary over HTTPS with a certificate of a
// test CA, replaces the certificate with one of another CA, and sends
// SIGHUP: new connections get the new certificate; a broken one is
// refused and the last good one stays.
func TestTLSReload(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	first := servertest.NewCA(t, "labd test CA 1")
	certFile, keyFile := first.Issue(t, dir, "127.0.0.1")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, labdBinary(t), "--controller=false", "--log-format=json", "--listen=127.0.0.1:0",
		"--database-url=sqlite:"+filepath.Join(dir, "labd.db"), "--tls-cert-file="+certFile, "--tls-key-file="+keyFile)
	logs, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan map[string]any, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(logs)
		for sc.Scan() {
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) == nil {
				lines <- rec
			}
		}
	}()
	waitLog := func(msg string) map[string]any {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case rec, ok := <-lines:
				if !ok {
					t.Fatalf("labd exited before logging %q", msg)
				}
				if m, _ := rec["msg"].(string); strings.Contains(m, msg) {
					return rec
				}
			case <-deadline:
				t.Fatalf("no %q log line within 30s", msg)
			}
		}
	}
	started := waitLog("labd started")
	addr, _ := started["listen"].(string)
	if started["tls"] != true || !strings.HasPrefix(started["example_access_url"].(string), "https://localhost:") {
		t.Fatalf("start line %v", started)
	}
	health := func(ca *servertest.CA) error {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, DisableKeepAlives: true}}
		resp, err := c.Get("https://" + addr + "/api/status/health")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	second := servertest.NewCA(t, "labd test CA 2")
	if err := health(first); err != nil {
		t.Fatalf("HTTPS with the test CA: %v", err)
	}
	if err := health(second); err == nil {
		t.Fatal("a client trusting another CA connected")
	}

	second.Issue(t, dir, "127.0.0.1")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog("TLS certificate reloaded")
	if err := health(second); err != nil {
		t.Fatalf("after SIGHUP, HTTPS with the new CA: %v", err)
	}
	if err := health(first); err == nil {
		t.Fatal("after SIGHUP, the old certificate is still served")
	}

	// A broken key file: refused, the certificate in use stays.
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	if rec := waitLog("TLS certificate not reloaded"); rec["level"] != "ERROR" {
		t.Fatalf("bad reload line %v", rec)
	}
	if err := health(second); err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	waitLog("labd stopped")
}
