package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server"
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

// TestServerInProcess starts labd on a random port with an embedded SQLite
// store, runs the design document's walk-through, and stops it with an
// open watch stream, which must not hold up the shutdown.
func TestServerInProcess(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "labd.db")
	const version = "v1.2.3-test"
	cfg := server.Config{Listen: "127.0.0.1:0", DatabaseURL: "sqlite:" + dbPath, ShutdownTimeout: 20 * time.Second,
		Controller: true, Version: version}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := server.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx) }()
	base := "http://" + s.Addr().String()
	if s.StoreKind() != "sqlite" {
		t.Fatalf("store kind %q", s.StoreKind())
	}

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

// TestNewConfigError: leader election timings that cannot work are a
// *ConfigError, found after the store was opened, and New closes what it
// opened: the SQLite file (locked while open) opens again at once.
func TestNewConfigError(t *testing.T) {
	t.Parallel()
	url := "sqlite:" + filepath.Join(t.TempDir(), "labd.db")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := server.New(ctx, server.Config{Listen: "127.0.0.1:0", DatabaseURL: url, Controller: true,
		LeaseDuration: time.Second, RenewDeadline: 2 * time.Second})
	var ce *server.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "lease_duration") {
		t.Fatalf("New = %v, want a *ConfigError about lease_duration", err)
	}
	db, err := store.Open(ctx, store.Config{URL: url})
	if err != nil {
		t.Fatalf("store still held after a failed New: %v", err)
	}
	db.Close()

	// A listen address in use: an error, not a ConfigError, and the store
	// is released too.
	s, err := server.New(ctx, server.Config{Listen: "127.0.0.1:0", DatabaseURL: "sqlite:" + filepath.Join(t.TempDir(), "a.db")})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	_, err = server.New(ctx, server.Config{Listen: s.Addr().String(), DatabaseURL: url})
	if err == nil || errors.As(err, &ce) || !strings.Contains(err.Error(), "listen on") {
		t.Fatalf("New on a busy address = %v", err)
	}
	if db, err = store.Open(ctx, store.Config{URL: url}); err != nil {
		t.Fatalf("store still held after a failed listen: %v", err)
	}
	db.Close()
}
