package server_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/server"
)

// TestPprof serves profiles on their own listener when asked, and not at
// all by default; the API never serves them.
func TestPprof(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{false, true} {
		cfg := server.Config{Listen: "127.0.0.1:0", DatabaseURL: "sqlite:" + filepath.Join(t.TempDir(), "labd.db")}
		if on {
			cfg.PprofListen = "127.0.0.1:0"
		}
		ctx, cancel := context.WithCancel(context.Background())
		s, err := server.New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		if code := call(t, "GET", "http://"+s.Addr().String()+"/debug/pprof/cmdline", "", nil); code != http.StatusNotFound {
			t.Errorf("API serves /debug/pprof/cmdline: %d", code)
		}
		switch addr := s.PprofAddr(); {
		case !on && addr != nil:
			t.Errorf("profiles served at %s without PprofListen", addr)
		case on && addr == nil:
			t.Errorf("no profile address with PprofListen")
		case on:
			resp, err := http.Get("http://" + addr.String() + "/debug/pprof/goroutine?debug=1")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
				t.Errorf("goroutine profile: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return")
		}
	}
}
