package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/httpapi/codec"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// patchLab is PATCH: a JSON merge patch (RFC 7396) applied to the current
// version by api.ApplyMergePatch, inside the store's write transaction.
// metadata.resource_version in the patch, or If-Match, makes it
// conditional; without either it applies to whatever is current.
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
	mutate := func(cur *api.LabInstanceRequest) error { return api.ApplyMergePatch(cur, patch) }
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

// readPatch decodes a merge patch, checked against the lab type, and its
// precondition: the resource_version the patch may carry, or If-Match.
func (s *Server) readPatch(c *gin.Context) (map[string]any, int64, error) {
	body, err := s.readBody(c, codec.Patches)
	if err != nil {
		return nil, 0, err
	}
	patch, err := body.MergePatch(&api.LabInstanceRequest{})
	if err != nil {
		return nil, 0, err
	}
	bodyVersion, err := api.PrepareMergePatch(patch)
	if err != nil {
		return nil, 0, err
	}
	expected, _, err := precondition(c, bodyVersion)
	if err != nil {
		return nil, 0, err
	}
	return patch, expected, nil
}
