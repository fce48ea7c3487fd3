package httpapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/httpapi/codec"
)

// CapacityReader answers GET /api/status/capacity. The leading
// controller answers from its admission ledger; any other replica
// computes the same from the store (server wires which).
type CapacityReader interface {
	Capacity(ctx context.Context, limit int) (api.CapacityStatus, error)
}

// Workspaces is the API's port onto the students' workspaces: the engine
// holds them, the store says which labs hold them.
type Workspaces interface {
	// ListWorkspaces lists this installation's workspaces, filtered by
	// namespace and student when they are not "".
	ListWorkspaces(ctx context.Context, namespace, student string) ([]api.StudentWorkspace, error)
	// RemoveWorkspace removes one with its files: api.ENOTFOUND if there
	// is none, api.ECONFLICT while a lab holds it.
	RemoveWorkspace(ctx context.Context, namespace, student string) (api.StudentWorkspace, error)
}

// capacity is GET /api/status/capacity?limit=N.
func (s *Server) capacity(c *gin.Context) {
	if !s.negotiate(c, codec.Status) {
		return
	}
	if s.cfg.Capacity == nil {
		s.writeError(c, errorf(api.EUNAVAILABLE, "this labd does not report capacity"))
		return
	}
	limit, given, err := intParam(c, "limit")
	if err != nil {
		s.writeError(c, err)
		return
	}
	if !given {
		limit = api.DefaultCapacityQueueLimit
	}
	if limit > api.MaxCapacityQueueLimit {
		s.writeError(c, fieldError(api.EBADREQUEST, "limit", "must be at most "+strconv.Itoa(api.MaxCapacityQueueLimit)))
		return
	}
	st, err := s.cfg.Capacity.Capacity(c.Request.Context(), int(limit))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	s.respond(c, http.StatusOK, st)
}

// needWorkspaces answers 503 itself without a Workspaces port (a labd
// without a container engine).
func (s *Server) needWorkspaces(c *gin.Context) bool {
	if s.cfg.Workspaces == nil {
		s.writeError(c, errorf(api.EUNAVAILABLE, "this labd runs without a container engine: it cannot see workspaces"))
		return false
	}
	return true
}

// listWorkspaces is GET /api/workspaces/?namespace=&student_email=.
func (s *Server) listWorkspaces(c *gin.Context) {
	if !s.negotiate(c, codec.Status) || !s.needWorkspaces(c) {
		return
	}
	ns := c.Query("namespace")
	if ns != "" {
		if err := api.ValidateName(ns); err != nil {
			s.writeError(c, fieldError(api.EBADREQUEST, "namespace", err.Error()))
			return
		}
	}
	items, err := s.cfg.Workspaces.ListWorkspaces(c.Request.Context(), ns, c.Query("student_email"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	if items == nil {
		items = []api.StudentWorkspace{}
	}
	c.Header("Cache-Control", "no-store")
	s.respond(c, http.StatusOK, api.StudentWorkspaceList{Items: items})
}

// deleteWorkspace is DELETE /api/workspaces/{namespace}/{student_email}:
// the workspace and its files are removed (200 with what was removed);
// 409 while a lab holds it, 404 if there is none.
func (s *Server) deleteWorkspace(c *gin.Context) {
	if !s.negotiate(c, codec.Status) || !s.needWorkspaces(c) {
		return
	}
	ns, student := c.Param("namespace"), c.Param("student")
	if err := api.ValidateName(ns); err != nil {
		s.writeError(c, fieldError(api.EBADREQUEST, "namespace", err.Error()))
		return
	}
	if err := api.ValidateEmail(student); err != nil {
		s.writeError(c, fieldError(api.EBADREQUEST, "student_email", err.Error()))
		return
	}
	ws, err := s.cfg.Workspaces.RemoveWorkspace(c.Request.Context(), ns, student)
	if err != nil {
		s.writeError(c, err)
		return
	}
	s.respond(c, http.StatusOK, ws)
}

// savedLogs serves an ended lab's output from the store, the last lines
// of it, and reports whether it did: false when nothing is saved (a lab
// not ended, or whose cleanup has not run yet).
func (s *Server) savedLogs(c *gin.Context, l *api.LabInstanceRequest, lines int) (bool, error) {
	if !api.Ended(l.Status.Phase) {
		return false, nil
	}
	logs, found, err := s.store.LabLogs(c.Request.Context(), l.Metadata.UID)
	if err != nil || !found {
		return false, err
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(lastLines(logs.Output, lines)))
	return true, nil
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	end := len(s)
	if end > 0 && s[end-1] == '\n' {
		end-- // the final newline ends the last line
	}
	for i := end - 1; i >= 0; i-- {
		if s[i] == '\n' {
			if n--; n == 0 {
				return s[i+1:]
			}
		}
	}
	return s
}
