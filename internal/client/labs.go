package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// AnnotationRequestID is put on every object the client creates, with a
// random value per Create call: it tells a retried create whether the
// object that now holds the name is the one an earlier attempt made.
const AnnotationRequestID = "client.labrm.io/request-id"

const collection = "api/lab-instances/"

func itemPath(name string, sub ...string) string {
	return collection + strings.Join(append([]string{url.PathEscape(name)}, sub...), "/")
}

func nsQuery(ns string) url.Values {
	q := url.Values{}
	if ns != "" {
		q.Set("namespace", ns)
	}
	return q
}

// manifest is what the client writes: the user-owned parts of an object.
// Status is never sent; the server owns it.
type manifest struct {
	APIVersion string         `json:"api_version"`
	Kind       string         `json:"kind"`
	Metadata   api.ObjectMeta `json:"metadata"`
	Spec       api.Spec       `json:"spec"`
}

func manifestOf(l *api.LabInstanceRequest) manifest {
	m := manifest{APIVersion: api.APIVersion, Kind: api.Kind, Metadata: l.Metadata, Spec: l.Spec}
	// Server-managed fields are not ours to send on a write.
	m.Metadata.UID, m.Metadata.Generation = "", 0
	m.Metadata.CreationTimestamp, m.Metadata.DeletionTimestamp = nil, nil
	return m
}

// Create creates a lab from the manifest form of l (metadata and spec;
// status is ignored) and returns the stored object, with its uid,
// resource_version and status.phase PENDING. A taken name is an
// api.EALREADYEXISTS error.
func (c *Client) Create(ctx context.Context, l *api.LabInstanceRequest) (*api.LabInstanceRequest, error) {
	m := manifestOf(l)
	m.Metadata.ResourceVersion = 0
	m.Metadata.Annotations = m.Metadata.Annotations.Clone()
	if m.Metadata.Annotations == nil {
		m.Metadata.Annotations = api.StringMap{}
	}
	rid := m.Metadata.Annotations[AnnotationRequestID]
	if rid == "" {
		rid = newRequestID()
		m.Metadata.Annotations[AnnotationRequestID] = rid
	}
	body, err := marshal(m)
	if err != nil {
		return nil, err
	}
	var out api.LabInstanceRequest
	_, err = c.doJSON(ctx, request{method: http.MethodPost, path: collection, body: body, conflictCode: api.EALREADYEXISTS}, &out)
	if err == nil {
		return &out, nil
	}
	if api.ErrorCode(err) != api.EALREADYEXISTS {
		return nil, err
	}
	// The name is taken. If the object holding it carries this call's
	// random request id, an earlier attempt of this very call created it
	// (its answer was lost and the request retried): return it. Otherwise
	// the name belongs to someone else and the 409 stands.
	key := api.Key{Namespace: cmpNS(m.Metadata.Namespace), Name: m.Metadata.Name}
	got, gerr := c.Get(ctx, key)
	if gerr == nil && got.Metadata.Annotations[AnnotationRequestID] == rid {
		return got, nil
	}
	return nil, err
}

func cmpNS(ns string) string {
	if ns == "" {
		return api.DefaultNamespace
	}
	return ns
}

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Get returns one lab, or an api.ENOTFOUND error.
func (c *Client) Get(ctx context.Context, key api.Key) (*api.LabInstanceRequest, error) {
	var out api.LabInstanceRequest
	_, err := c.doJSON(ctx, request{method: http.MethodGet, path: itemPath(key.Name), query: nsQuery(key.Namespace), idempotent: true}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListOptions filters and pages a list; zero fields do not filter.
type ListOptions struct {
	Namespace     string // "" means every namespace
	Phase         api.Phase
	StudentEmail  string
	LabelSelector map[string]string // every pair must match
	Limit         int               // page size; 0 means the server's default
	Continue      string            // token from the previous page's metadata.continue
}

// Query renders the options as the list route's query parameters.
func (o ListOptions) Query() url.Values {
	q := nsQuery(o.Namespace)
	if o.Phase != "" {
		q.Set("phase", string(o.Phase))
	}
	if o.StudentEmail != "" {
		q.Set("student_email", o.StudentEmail)
	}
	if sel := FormatLabelSelector(o.LabelSelector); sel != "" {
		q.Set("label_selector", sel)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Continue != "" {
		q.Set("continue", o.Continue)
	}
	return q
}

// FormatLabelSelector renders a selector as the server parses it:
// "k=v,k2=v2", sorted by key.
func FormatLabelSelector(sel map[string]string) string {
	parts := make([]string, 0, len(sel))
	for _, k := range slices.Sorted(maps.Keys(sel)) {
		parts = append(parts, k+"="+sel[k])
	}
	return strings.Join(parts, ",")
}

// List returns one page. Its metadata.continue, when set, fetches the next
// page; its metadata.resource_version is where a watch sees every later change.
func (c *Client) List(ctx context.Context, opts ListOptions) (*api.LabInstanceRequestList, error) {
	var out api.LabInstanceRequestList
	_, err := c.doJSON(ctx, request{method: http.MethodGet, path: collection, query: opts.Query(), idempotent: true}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListAll follows continue tokens and returns every matching lab in one
// list. Its metadata.resource_version is the FIRST page's: items of later
// pages may be newer, so a watch from there may repeat a change but never
// misses one.
func (c *Client) ListAll(ctx context.Context, opts ListOptions) (*api.LabInstanceRequestList, error) {
	opts.Continue = ""
	var all *api.LabInstanceRequestList
	for pages := 0; ; pages++ {
		page, err := c.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		if all == nil {
			all = page
		} else {
			all.Items = append(all.Items, page.Items...)
		}
		if page.Metadata.Continue == "" {
			all.Metadata.Continue = ""
			return all, nil
		}
		if page.Metadata.Continue == opts.Continue || pages > 100000 {
			return nil, fmt.Errorf("list: server repeated continue token %q", opts.Continue)
		}
		opts.Continue = page.Metadata.Continue
	}
}

// Update replaces the spec and labels of the lab named by l's metadata,
// conditionally on l.Metadata.ResourceVersion: a stale version is an
// api.ECONFLICT error and nothing is written. Status in l is ignored.
func (c *Client) Update(ctx context.Context, l *api.LabInstanceRequest) (*api.LabInstanceRequest, error) {
	if l.Metadata.ResourceVersion == 0 {
		return nil, api.Errorf(api.EINVALID, "update of %s: metadata.resource_version is required", l.Key())
	}
	body, err := marshal(manifestOf(l))
	if err != nil {
		return nil, err
	}
	var out api.LabInstanceRequest
	_, err = c.doJSON(ctx, request{
		method: http.MethodPut, path: itemPath(l.Metadata.Name), query: nsQuery(l.Metadata.Namespace),
		body: body, idempotent: true,
	}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Patch applies a JSON merge patch (RFC 7396) to a lab. patch must encode
// as a JSON object. A non-zero resourceVersion is put in the patch as
// metadata.resource_version, which makes the patch conditional (409 when
// stale) and safe to retry; without it the patch is sent once.
func (c *Client) Patch(ctx context.Context, key api.Key, patch any, resourceVersion int64) (*api.LabInstanceRequest, error) {
	raw, err := marshal(patch)
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, errors.New("patch: must be a JSON object")
	}
	if resourceVersion != 0 {
		meta, _ := obj["metadata"].(map[string]any)
		if meta == nil {
			meta = map[string]any{}
		}
		meta["resource_version"] = resourceVersion
		obj["metadata"] = meta
		if raw, err = marshal(obj); err != nil {
			return nil, err
		}
	}
	var out api.LabInstanceRequest
	_, err = c.doJSON(ctx, request{
		method: http.MethodPatch, path: itemPath(key.Name), query: nsQuery(key.Namespace),
		body: raw, ctype: "application/merge-patch+json", idempotent: resourceVersion != 0,
	}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete deletes a lab. With finalizers present the server only marks it
// (deletion_timestamp set) and deleted is false: the row goes once the
// controller has cleaned up. A lab already gone is an api.ENOTFOUND error.
func (c *Client) Delete(ctx context.Context, key api.Key) (obj *api.LabInstanceRequest, deleted bool, err error) {
	var out api.LabInstanceRequest
	res, err := c.doJSON(ctx, request{method: http.MethodDelete, path: itemPath(key.Name), query: nsQuery(key.Namespace), idempotent: true}, nil)
	if err != nil {
		return nil, false, err
	}
	if len(res.body) > 0 {
		if err := json.Unmarshal(res.body, &out); err != nil {
			return nil, false, fmt.Errorf("decode DELETE response: %w", err)
		}
	}
	return &out, res.resp.StatusCode != http.StatusAccepted, nil
}

// Events returns a lab's history, oldest first.
func (c *Client) Events(ctx context.Context, key api.Key) (*api.LabEventList, error) {
	var out api.LabEventList
	_, err := c.doJSON(ctx, request{method: http.MethodGet, path: itemPath(key.Name, "events"), query: nsQuery(key.Namespace), idempotent: true}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Start starts a scheduled lab now; api.ECONFLICT when its phase does not allow it.
func (c *Client) Start(ctx context.Context, key api.Key) (*api.LabInstanceRequest, error) {
	return c.action(ctx, key, "start")
}

// Stop ends a running lab (it becomes COMPLETED once cleaned up);
// api.ECONFLICT when its phase does not allow it.
func (c *Client) Stop(ctx context.Context, key api.Key) (*api.LabInstanceRequest, error) {
	return c.action(ctx, key, "stop")
}

func (c *Client) action(ctx context.Context, key api.Key, verb string) (*api.LabInstanceRequest, error) {
	var out api.LabInstanceRequest
	_, err := c.doJSON(ctx, request{method: http.MethodPost, path: itemPath(key.Name, verb), query: nsQuery(key.Namespace)}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Logs returns the last lines of the lab container's output (lines <= 0:
// the server's default). The server may answer text/plain or JSON
// ({"logs": "..."} or {"lines": [...]}); both are accepted.
func (c *Client) Logs(ctx context.Context, key api.Key, lines int) (string, error) {
	q := nsQuery(key.Namespace)
	if lines > 0 {
		q.Set("lines", strconv.Itoa(lines))
	}
	res, err := c.do(ctx, request{method: http.MethodGet, path: itemPath(key.Name, "logs"), query: q, accept: "text/plain, application/json;q=0.9", idempotent: true})
	if err != nil {
		return "", err
	}
	if !strings.Contains(res.resp.Header.Get("Content-Type"), "json") {
		return string(res.body), nil
	}
	var body struct {
		Logs  *string  `json:"logs"`
		Lines []string `json:"lines"`
	}
	if err := json.Unmarshal(res.body, &body); err != nil {
		return "", fmt.Errorf("decode logs: %w", err)
	}
	if body.Logs != nil {
		return *body.Logs, nil
	}
	if len(body.Lines) == 0 {
		return "", nil
	}
	return strings.Join(body.Lines, "\n") + "\n", nil
}

// Access returns the lab's gateway URL and access token (a read-write API
// token is needed). The token is a secret: callers must not log it.
func (c *Client) Access(ctx context.Context, key api.Key) (*api.LabAccess, error) {
	var out api.LabAccess
	_, err := c.doJSON(ctx, request{method: http.MethodGet, path: itemPath(key.Name, "access"), query: nsQuery(key.Namespace), idempotent: true}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// RotateAccess replaces the lab's access token and returns the new one.
func (c *Client) RotateAccess(ctx context.Context, key api.Key) (*api.LabAccess, error) {
	var out api.LabAccess
	_, err := c.doJSON(ctx, request{method: http.MethodPost, path: itemPath(key.Name, "access", "rotate"), query: nsQuery(key.Namespace)}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}
