package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/httpapi/codec"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// labPath is a lab's URL path, the Location of a created lab.
func labPath(k api.Key) string {
	return "/api/lab-instances/" + url.PathEscape(k.Name) + "?namespace=" + url.QueryEscape(k.Namespace)
}

func (s *Server) getLab(c *gin.Context) {
	key, ok := s.labTarget(c)
	if !ok {
		return
	}
	l, err := s.store.GetLab(c.Request.Context(), key)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if inm := c.GetHeader("If-None-Match"); inm != "" && etagMatches(inm, l.Metadata.ResourceVersion) {
		c.Header("ETag", etag(l.Metadata.ResourceVersion))
		c.Status(http.StatusNotModified)
		return
	}
	s.respondLab(c, http.StatusOK, l)
}

// etagMatches is the weak comparison If-None-Match uses.
func etagMatches(header string, rv int64) bool {
	want := etag(rv)
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == want {
			return true
		}
	}
	return false
}

// listLabs answers GET on the collection: a list, or a watch with
// ?watch=true.
func (s *Server) listLabs(c *gin.Context) {
	if w := c.Query("watch"); w != "" {
		watch, err := strconv.ParseBool(w)
		if err != nil {
			s.writeError(c, fieldError(api.EBADREQUEST, "watch", "must be true or false"))
			return
		}
		if watch {
			s.watch(c)
			return
		}
	}
	if !s.negotiate(c, codec.Objects) {
		return
	}
	f, err := parseFilter(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	opts := f.listOptions()
	limit, _, err := intParam(c, "limit")
	if err != nil {
		s.writeError(c, err)
		return
	}
	opts.Limit = int(min(limit, store.MaxListLimit))
	opts.Continue = c.Query("continue")
	// A list is always of the current state; a version, if named, must
	// still be one this server issued.
	if _, _, err := s.versionParam(c.Request.Context(), c); err != nil {
		s.writeError(c, err)
		return
	}
	list, err := s.store.ListLabs(c.Request.Context(), opts)
	if err != nil {
		s.writeError(c, err)
		return
	}
	list.APIVersion, list.Kind = api.APIVersion, api.ListKind
	if list.Items == nil {
		list.Items = []api.LabInstanceRequest{}
	}
	for i := range list.Items {
		list.Items[i].APIVersion, list.Items[i].Kind = api.APIVersion, api.Kind
	}
	s.respond(c, http.StatusOK, list)
}

// replaceLab is PUT: the body replaces the stored lab's spec, labels,
// annotations and (when given) finalizers, by api.ApplyReplace. The write
// must name the version it replaces.
func (s *Server) replaceLab(c *gin.Context) {
	key, ok := s.labTarget(c)
	if !ok {
		return
	}
	in, expected, err := s.readReplace(c, key)
	if err != nil {
		s.writeError(c, err)
		return
	}
	// "If-Match: *" (expected 0) replaces whatever is current, re-applied
	// if another write slips in between.
	update := s.store.UpdateLab
	if expected == 0 {
		update = s.store.UpdateLabWithRetry
	}
	updated, err := update(c.Request.Context(), key, store.WriteOptions{ExpectedVersion: expected},
		func(cur *api.LabInstanceRequest) error { return api.ApplyReplace(cur, in) })
	if err != nil {
		s.writeError(c, err)
		return
	}
	s.respondLab(c, http.StatusOK, updated)
}

// readReplace decodes a PUT body and its precondition.
func (s *Server) readReplace(c *gin.Context, key api.Key) (*api.LabInstanceRequest, int64, error) {
	body, err := s.readBody(c, codec.Objects)
	if err != nil {
		return nil, 0, err
	}
	var in api.LabInstanceRequest
	if err := body.Decode(&in); err != nil {
		return nil, 0, err
	}
	if in.Metadata.Name != "" && in.Metadata.Name != key.Name {
		return nil, 0, fieldError(api.EBADREQUEST, "metadata.name", "is "+strconv.Quote(in.Metadata.Name)+" but the URL names "+strconv.Quote(key.Name))
	}
	if in.Metadata.Namespace != "" && in.Metadata.Namespace != key.Namespace {
		return nil, 0, fieldError(api.EBADREQUEST, "metadata.namespace", "is "+strconv.Quote(in.Metadata.Namespace)+" but the request is for namespace "+strconv.Quote(key.Namespace)+" (?namespace=)")
	}
	if err := api.ValidateTypeMeta(&in); err != nil {
		return nil, 0, err
	}
	expected, given, err := precondition(c, in.Metadata.ResourceVersion)
	if err != nil {
		return nil, 0, err
	}
	if !given {
		return nil, 0, errorf(api.EPRECONDITION,
			"a replace must name the version it replaces: send metadata.resource_version or an If-Match header with the ETag of the version read")
	}
	return &in, expected, nil
}

// deleteLab is DELETE: with finalizers the lab is only marked (202, the
// controller finishes the job), without it is gone (200, its last state).
func (s *Server) deleteLab(c *gin.Context) {
	key, ok := s.labTarget(c)
	if !ok {
		return
	}
	qv, _, err := intParam(c, "resource_version")
	if err != nil {
		s.writeError(c, err)
		return
	}
	expected, _, err := precondition(c, qv)
	if err != nil {
		s.writeError(c, err)
		return
	}
	l, deleted, err := s.store.DeleteLab(c.Request.Context(), key, store.WriteOptions{ExpectedVersion: expected})
	if err != nil {
		s.writeError(c, err)
		return
	}
	status := http.StatusAccepted
	if deleted {
		status = http.StatusOK
	}
	s.respondLab(c, status, l)
}

// labEvents is GET .../{name}/events: the lab's history, oldest first.
func (s *Server) labEvents(c *gin.Context) {
	key, ok := s.labTarget(c)
	if !ok {
		return
	}
	events, err := s.store.LabHistory(c.Request.Context(), key)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if events.Items == nil {
		events.Items = []api.LabEvent{}
	}
	s.respond(c, http.StatusOK, events)
}
