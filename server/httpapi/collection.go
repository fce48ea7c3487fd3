package httpapi

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/httpapi/codec"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// Collection operations, as Kubernetes spells them: DELETE on the
// collection deletes the labs a filter selects, each through its
// finalizer; POST /api/lab-instances/stop ends the RUNNING ones. Both take
// the list filters (namespace, phase, student_email, label_selector),
// ?dry_run=true to answer what they would do without doing it, and answer
// the labs affected. They are idempotent: a lab being deleted is reported
// again as "deleting", one asked to stop as "stopping".
//
// Deleting a whole class by accident must be hard: a collection DELETE or
// stop needs a selecting filter (label_selector, phase or student_email);
// a namespace alone does not count, for it is how one names "all of this
// course". Acting on every lab of a namespace, or of all of them, takes
// ?all=true, as kubectl delete needs --all.

// collectionFilter reads the filters and checks that the request selects.
func collectionFilter(c *gin.Context) (filter, bool, error) {
	f, err := parseFilter(c)
	if err != nil {
		return f, false, err
	}
	dry, err := boolParam(c, "dry_run")
	if err != nil {
		return f, false, err
	}
	all, err := boolParam(c, "all")
	if err != nil {
		return f, false, err
	}
	if !all && len(f.labels) == 0 && f.phase == "" && f.studentEmail == "" {
		return f, false, fieldError(api.EBADREQUEST, "label_selector",
			"a collection operation needs label_selector, phase or student_email to select labs; "+
				"to act on every lab (of ?namespace=, or of all namespaces) say so with all=true")
	}
	return f, dry, nil
}

func boolParam(c *gin.Context, name string) (bool, error) {
	v := c.Query(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fieldError(api.EBADREQUEST, name, "must be true or false")
	}
	return b, nil
}

// selected lists every lab the filter selects, page by page.
func (s *Server) selected(c *gin.Context, f filter) ([]api.LabInstanceRequest, error) {
	opts := f.listOptions()
	opts.Limit = store.MaxListLimit
	var out []api.LabInstanceRequest
	for {
		list, err := s.store.ListLabs(c.Request.Context(), opts)
		if err != nil {
			return nil, err
		}
		out = append(out, list.Items...)
		if list.Metadata.Continue == "" {
			return out, nil
		}
		opts.Continue = list.Metadata.Continue
	}
}

func affected(l *api.LabInstanceRequest, result string) api.AffectedLab {
	return api.AffectedLab{Namespace: l.Metadata.Namespace, Name: l.Metadata.Name, UID: l.Metadata.UID, Phase: l.Status.Phase, Result: result}
}

// deleteLabs is DELETE /api/lab-instances/?<filters>.
func (s *Server) deleteLabs(c *gin.Context) {
	if !s.negotiate(c, codec.Objects) {
		return
	}
	f, dry, err := collectionFilter(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	labs, err := s.selected(c, f)
	if err != nil {
		s.writeError(c, err)
		return
	}
	res := api.CollectionResult{DryRun: dry, Items: []api.AffectedLab{}}
	for i := range labs {
		l := &labs[i]
		if dry {
			result := api.ResultDeleting
			if len(l.Metadata.Finalizers) == 0 {
				result = api.ResultDeleted
			}
			res.Items = append(res.Items, affected(l, result))
			continue
		}
		out, deleted, err := s.deleteSelected(c, l)
		switch {
		case api.IsNotFound(err):
			continue // gone meanwhile, or replaced: nothing to do
		case err != nil:
			s.writeError(c, err)
			return
		}
		result := api.ResultDeleting
		if deleted {
			result = api.ResultDeleted
		}
		res.Items = append(res.Items, affected(out, result))
	}
	s.respond(c, http.StatusOK, res)
}

// deleteSelected deletes the lab l names if it is still the one selected
// (same uid: a lab deleted and created again under the same name since is
// not this request's), retrying writes that raced with the controller's.
func (s *Server) deleteSelected(c *gin.Context, l *api.LabInstanceRequest) (*api.LabInstanceRequest, bool, error) {
	ctx := c.Request.Context()
	for attempt := 0; ; attempt++ {
		cur, err := s.store.GetLab(ctx, l.Key())
		if err != nil {
			return nil, false, err
		}
		if cur.Metadata.UID != l.Metadata.UID {
			return nil, false, api.Errorf(api.ENOTFOUND, "lab %s was replaced", l.Key())
		}
		out, deleted, err := s.store.DeleteLab(ctx, l.Key(), store.WriteOptions{ExpectedVersion: cur.Metadata.ResourceVersion})
		if api.ErrorCode(err) == api.ECONFLICT && attempt < 10 {
			continue // changed since read: read again
		}
		return out, deleted, err
	}
}

// stopLabs is POST /api/lab-instances/stop?<filters>: the selected
// RUNNING labs are asked to stop (api.RequestStop); other phases are
// left alone. A phase filter other than RUNNING selects nothing to stop
// and is refused.
func (s *Server) stopLabs(c *gin.Context) {
	if !s.negotiate(c, codec.Objects) {
		return
	}
	f, dry, err := collectionFilter(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if f.phase != "" && f.phase != api.PhaseRunning {
		s.writeError(c, fieldError(api.EBADREQUEST, "phase", "stop ends RUNNING labs: leave phase out or say RUNNING"))
		return
	}
	f.phase = api.PhaseRunning
	labs, err := s.selected(c, f)
	if err != nil {
		s.writeError(c, err)
		return
	}
	res := api.CollectionResult{DryRun: dry, Items: []api.AffectedLab{}}
	now := s.now()
	for i := range labs {
		l := &labs[i]
		if l.Metadata.DeletionTimestamp != nil {
			continue // being deleted: its finalizer ends it
		}
		if dry {
			res.Items = append(res.Items, affected(l, api.ResultStopping))
			continue
		}
		uid := l.Metadata.UID
		out, err := s.store.UpdateLabWithRetry(c.Request.Context(), l.Key(), store.WriteOptions{}, func(x *api.LabInstanceRequest) error {
			if x.Metadata.UID != uid {
				return api.Errorf(api.ENOTFOUND, "lab %s was replaced", x.Key())
			}
			return api.RequestStop(x, now)
		})
		switch {
		case api.IsNotFound(err), api.ErrorCode(err) == api.ECONFLICT:
			// Gone, or no longer RUNNING (stale versions are retried by
			// UpdateLabWithRetry): nothing to stop.
			continue
		case err != nil:
			s.writeError(c, err)
			return
		}
		res.Items = append(res.Items, affected(out, api.ResultStopping))
	}
	s.respond(c, http.StatusOK, res)
}
