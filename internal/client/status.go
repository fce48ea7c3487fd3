package client

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// Health reports whether the process is up (GET /api/status/health).
func (c *Client) Health(ctx context.Context) (*api.Health, error) {
	var out api.Health
	if _, err := c.doJSON(ctx, request{method: http.MethodGet, path: "api/status/health", idempotent: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Ready reports whether the server can serve (GET /api/status/ready). It
// is not retried: a 503 is the answer, not a transient failure. When not
// ready it returns the body naming the failing checks (if the server sent
// one) together with an api.EUNAVAILABLE error.
func (c *Client) Ready(ctx context.Context) (*api.Ready, error) {
	r := request{method: http.MethodGet, path: "api/status/ready"}
	u := c.base.JoinPath(r.path).String()
	res, _, err := c.attempt(ctx, r, u)
	if err == nil {
		var out api.Ready
		if err := json.Unmarshal(res.body, &out); err != nil {
			return nil, err
		}
		return &out, nil
	}
	var se *statusError
	if !errors.As(err, &se) {
		return nil, err
	}
	var out api.Ready
	if json.Unmarshal(se.body, &out) != nil || out.Status == "" {
		return nil, se.err
	}
	var failing []string
	for _, k := range slices.Sorted(maps.Keys(out.Checks)) {
		if out.Checks[k] != "ok" {
			failing = append(failing, k+": "+out.Checks[k])
		}
	}
	return &out, api.Errorf(api.ErrorCode(se.err), "not ready: %s", strings.Join(failing, "; "))
}

// Leader reports this replica's view of leadership (GET /api/status/leader).
func (c *Client) Leader(ctx context.Context) (*api.LeaderStatus, error) {
	var out api.LeaderStatus
	if _, err := c.doJSON(ctx, request{method: http.MethodGet, path: "api/status/leader", idempotent: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Bookmarks reports the outbox watchers' progress (GET /api/status/bookmarks).
func (c *Client) Bookmarks(ctx context.Context) (*api.BookmarkStatus, error) {
	var out api.BookmarkStatus
	if _, err := c.doJSON(ctx, request{method: http.MethodGet, path: "api/status/bookmarks", idempotent: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Status reports per-phase counts, leadership and uptime (GET /api/status/status).
func (c *Client) Status(ctx context.Context) (*api.SystemStatus, error) {
	var out api.SystemStatus
	if _, err := c.doJSON(ctx, request{method: http.MethodGet, path: "api/status/status", idempotent: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Finalizers reports finalizer processing (GET /api/status/finalizers).
func (c *Client) Finalizers(ctx context.Context) (*api.FinalizerStatus, error) {
	var out api.FinalizerStatus
	if _, err := c.doJSON(ctx, request{method: http.MethodGet, path: "api/status/finalizers", idempotent: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
