package provider

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/internal/client"
)

// TestReadAccessToken: the token when labd gives it; null for a read-only
// API token (403) or a labd without access tokens (404); an error else.
func TestReadAccessToken(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		problem := func(status int, code string) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(status)
			json.NewEncoder(w).Encode(api.Problem{Status: status, Code: code, Title: http.StatusText(status)})
		}
		switch r.URL.Query().Get("namespace") {
		case "ok":
			json.NewEncoder(w).Encode(api.LabAccess{URL: "http://gw/labs/ok/l/", Token: "TOKEN"})
		case "ro":
			problem(http.StatusForbidden, api.EFORBIDDEN)
		case "old":
			problem(http.StatusNotFound, api.ENOTFOUND)
		default:
			problem(http.StatusBadRequest, api.EBADREQUEST)
		}
	}))
	defer srv.Close()
	c, err := client.New(srv.URL, client.WithRetry(client.RetryPolicy{MaxAttempts: 1}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if v, err := readAccessToken(ctx, c, api.Key{Namespace: "ok", Name: "l"}); err != nil || v.ValueString() != "TOKEN" {
		t.Fatalf("ok: %v, %v", v, err)
	}
	for _, ns := range []string{"ro", "old"} {
		if v, err := readAccessToken(ctx, c, api.Key{Namespace: ns, Name: "l"}); err != nil || !v.IsNull() {
			t.Fatalf("%s: %v, %v; want null", ns, v, err)
		}
	}
	if _, err := readAccessToken(ctx, c, api.Key{Namespace: "bad", Name: "l"}); err == nil {
		t.Fatal("a 400 read as no token")
	}
}
