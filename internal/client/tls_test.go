package client

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// TestTLS: an HTTPS endpoint with a private CA works with the CA given as
// PEM or file, or with verification off, and fails at once (no retries)
// without it.
func TestTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, lab("default", "x", 1, api.PhasePending))
	}))
	t.Cleanup(srv.Close)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	slow := WithRetry(RetryPolicy{MaxAttempts: 5, MinBackoff: 300 * time.Millisecond})

	for name, opts := range map[string][]Option{
		"ca pem":   {WithCAPEM(caPEM)},
		"ca file":  {WithCAFile(caFile)},
		"insecure": {WithInsecureSkipVerify(true)},
	} {
		c, err := New(srv.URL, opts...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := c.Get(t.Context(), api.Key{Name: "x"}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	c, err := New(srv.URL, slow)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Get(t.Context(), api.Key{Name: "x"})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: %v; want a certificate error", err)
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Errorf("certificate error took %v: it must not be retried", d)
	}
	if _, err := New(srv.URL, WithCAFile(filepath.Join(t.TempDir(), "missing.pem"))); err == nil {
		t.Error("missing CA file: want error")
	}
}
