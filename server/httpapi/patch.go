package httpapi

import (
	"encoding/json"
	"net/http"
	"reflect"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// patchLab is PATCH: a JSON merge patch (RFC 7396) applied to the JSON form
// of {api_version, kind, metadata, spec} of the current version, inside the
// store's write transaction. metadata.resource_version in the patch, or
// If-Match, makes it conditional; without either it applies to whatever is
// current.
func (s *Server) patchLab(c *gin.Context) {
	key, ok := s.labTarget(c)
	if !ok {
		return
	}
	patch, expected, err := s.readPatch(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	mutate := func(cur *api.LabInstanceRequest) error {
		next, err := applyMergePatch(cur, patch)
		if err != nil {
			return err
		}
		return s.applyUpdate(cur, next)
	}
	var updated *api.LabInstanceRequest
	if expected != 0 {
		updated, err = s.store.UpdateLab(c.Request.Context(), key, store.WriteOptions{ExpectedVersion: expected}, mutate)
	} else {
		updated, err = s.store.UpdateLabWithRetry(c.Request.Context(), key, store.WriteOptions{}, mutate)
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	s.respondLab(c, http.StatusOK, updated)
}

// readPatch decodes and checks a merge patch; the resource_version it may
// carry is taken out and returned as the precondition.
func (s *Server) readPatch(c *gin.Context) (map[string]any, int64, error) {
	f, err := bodyFormat(c, patchTypes)
	if err != nil {
		return nil, 0, err
	}
	body, err := s.readBody(c)
	if err != nil {
		return nil, 0, err
	}
	j, err := toJSON(f, body)
	if err != nil {
		return nil, 0, err
	}
	g, err := decodeGeneric(j)
	if err != nil {
		return nil, 0, err
	}
	patch, ok := g.(map[string]any)
	if !ok {
		return nil, 0, errorf(api.EBADREQUEST, "a merge patch must be an object")
	}
	if _, ok := patch["status"]; ok {
		return nil, 0, fieldError(api.EINVALID, "status", "is read-only: it is written by the controller")
	}
	var fe api.FieldErrors
	unknownJSON(patch, reflect.TypeFor[api.LabInstanceRequest](), "", &fe)
	if len(fe) > 0 {
		return nil, 0, &api.Error{Code: api.EBADREQUEST, Message: "unknown fields", Fields: fe}
	}
	var bodyVersion int64
	if meta, ok := patch["metadata"].(map[string]any); ok {
		if raw, ok := meta["resource_version"]; ok {
			delete(meta, "resource_version")
			if raw != nil {
				n, ok := raw.(json.Number)
				v, err := n.Int64()
				if !ok || err != nil || v <= 0 {
					return nil, 0, fieldError(api.EBADREQUEST, "metadata.resource_version", "must be a positive integer")
				}
				bodyVersion = v
			}
		}
	}
	expected, _, err := precondition(c, bodyVersion)
	if err != nil {
		return nil, 0, err
	}
	return patch, expected, nil
}

// applyMergePatch returns cur with patch applied. Fields the server owns
// may appear in the patch only with their current values.
func applyMergePatch(cur *api.LabInstanceRequest, patch map[string]any) (*api.LabInstanceRequest, error) {
	view := cur.DeepCopy()
	view.Status = api.Status{}
	b, err := json.Marshal(view)
	if err != nil {
		return nil, err
	}
	doc, err := decodeGeneric(b)
	if err != nil {
		return nil, err
	}
	merged := mergePatch(doc, patch).(map[string]any)
	delete(merged, "status")
	b, err = json.Marshal(merged)
	if err != nil {
		return nil, err
	}
	var next api.LabInstanceRequest
	if err := decodeJSONStrict(b, &next); err != nil {
		return nil, err
	}
	var fe api.FieldErrors
	m, om := &next.Metadata, &cur.Metadata
	if m.Generation != om.Generation {
		fe.Add("metadata.generation", "is set by the server")
	}
	if !timeEqual(m.CreationTimestamp, om.CreationTimestamp) {
		fe.Add("metadata.creation_timestamp", "is set by the server")
	}
	if next.APIVersion != api.APIVersion {
		fe.Add("api_version", "must be %s", api.APIVersion)
	}
	if next.Kind != api.Kind {
		fe.Add("kind", "must be %s", api.Kind)
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	return &next, nil
}

// mergePatch applies an RFC 7396 merge patch to target: objects merge
// recursively, null deletes, anything else replaces. Values of patch are
// shared, not copied; target's maps are changed in place.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergePatch(t[k], v)
	}
	return t
}

func timeEqual(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
