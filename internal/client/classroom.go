package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// Capacity reports the capacity, what is reserved and free, and the first
// limit labs of the admission queue (GET /api/status/capacity).
func (c *Client) Capacity(ctx context.Context, limit int) (*api.CapacityStatus, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	var out api.CapacityStatus
	if _, err := c.doJSON(ctx, request{method: http.MethodGet, path: "api/status/capacity", query: q, idempotent: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Workspaces lists the students' workspaces, filtered by namespace and
// student when they are not "" (GET /api/workspaces/).
func (c *Client) Workspaces(ctx context.Context, namespace, student string) ([]api.StudentWorkspace, error) {
	q := nsQuery(namespace)
	if student != "" {
		q.Set("student_email", student)
	}
	var out api.StudentWorkspaceList
	if _, err := c.doJSON(ctx, request{method: http.MethodGet, path: "api/workspaces/", query: q, idempotent: true}, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// DeleteWorkspace removes a student's workspace and its files: api.ENOTFOUND
// when there is none, api.ECONFLICT while a lab holds it.
func (c *Client) DeleteWorkspace(ctx context.Context, namespace, student string) (*api.StudentWorkspace, error) {
	var out api.StudentWorkspace
	path := "api/workspaces/" + url.PathEscape(namespace) + "/" + url.PathEscape(student)
	if _, err := c.doJSON(ctx, request{method: http.MethodDelete, path: path, idempotent: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CollectionOptions select the labs of a collection operation. A
// namespace alone does not select: say All.
type CollectionOptions struct {
	Namespace     string
	Phase         api.Phase
	StudentEmail  string
	LabelSelector map[string]string
	All           bool // act on every lab of Namespace (or of all), no other filter needed
	DryRun        bool // answer what would be done, do nothing
}

func (o CollectionOptions) query() url.Values {
	q := ListOptions{Namespace: o.Namespace, Phase: o.Phase, StudentEmail: o.StudentEmail, LabelSelector: o.LabelSelector}.Query()
	if o.All {
		q.Set("all", "true")
	}
	if o.DryRun {
		q.Set("dry_run", "true")
	}
	return q
}

// DeleteCollection deletes the selected labs, each through its finalizer
// (DELETE /api/lab-instances/?...), and returns those affected.
func (c *Client) DeleteCollection(ctx context.Context, opts CollectionOptions) (*api.CollectionResult, error) {
	var out api.CollectionResult
	if _, err := c.doJSON(ctx, request{method: http.MethodDelete, path: collection, query: opts.query(), idempotent: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// StopCollection asks the selected RUNNING labs to stop (POST
// /api/lab-instances/stop?...) and returns those affected.
func (c *Client) StopCollection(ctx context.Context, opts CollectionOptions) (*api.CollectionResult, error) {
	var out api.CollectionResult
	if _, err := c.doJSON(ctx, request{method: http.MethodPost, path: collection + "stop", query: opts.query(), idempotent: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
