package httpapi

import (
	"encoding/xml"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// createRequest is the design document's flat create body. It is kept
// alongside the manifest form ({api_version, kind, metadata, spec}) because
// that is what the document's curl examples send.
type createRequest struct {
	XMLName            xml.Name            `json:"-" xml:"LabInstanceRequest"`
	Name               string              `json:"name" xml:"name"`
	Namespace          string              `json:"namespace" xml:"namespace"`
	LabTemplate        string              `json:"lab_template" xml:"lab_template"`
	StudentEmail       string              `json:"student_email" xml:"student_email"`
	DurationMinutes    int                 `json:"duration_minutes" xml:"duration_minutes"`
	ScheduledStartTime string              `json:"scheduled_start_time" xml:"scheduled_start_time"`
	Environment        api.StringMap       `json:"environment" xml:"environment"`
	ResourceLimits     *api.ResourceLimits `json:"resource_limits" xml:"resource_limits"`
	Labels             api.StringMap       `json:"labels" xml:"labels"`
	Annotations        api.StringMap       `json:"annotations" xml:"annotations"`
}

func (r *createRequest) lab() *api.LabInstanceRequest {
	return &api.LabInstanceRequest{
		Metadata: api.ObjectMeta{
			Name: r.Name, Namespace: r.Namespace, Labels: r.Labels, Annotations: r.Annotations,
		},
		Spec: api.Spec{
			LabTemplate: r.LabTemplate, StudentEmail: r.StudentEmail, DurationMinutes: r.DurationMinutes,
			ScheduledStartTime: r.ScheduledStartTime, Environment: r.Environment, ResourceLimits: r.ResourceLimits,
		},
	}
}

// manifestFields are the top-level fields of the manifest form.
var manifestFields = map[string]bool{"api_version": true, "kind": true, "metadata": true, "spec": true, "status": true}

// decodeCreate reads either form of a create body. flat reports the flat
// form, whose field errors are then named as that form spells them.
func decodeCreate(f *format, body []byte) (l *api.LabInstanceRequest, flat bool, err error) {
	names, err := topLevelFields(f, body)
	if err != nil {
		return nil, false, err
	}
	var manifest, other []string
	for _, n := range names {
		if manifestFields[n] {
			manifest = append(manifest, n)
		} else {
			other = append(other, n)
		}
	}
	if len(manifest) > 0 {
		if len(other) > 0 {
			slices.Sort(manifest)
			slices.Sort(other)
			return nil, false, errorf(api.EBADREQUEST,
				"the body mixes the manifest form (%s) with other fields (%s): send either {api_version, kind, metadata, spec} or the flat form {name, lab_template, ...}",
				strings.Join(manifest, ", "), strings.Join(other, ", "))
		}
		l = &api.LabInstanceRequest{}
		if err := decodeStrict(f, body, l); err != nil {
			return nil, false, err
		}
		return l, false, nil
	}
	var r createRequest
	if err := decodeStrict(f, body, &r); err != nil {
		return nil, true, err
	}
	return r.lab(), true, nil
}

// flatFields renames the field errors of a flat-form create from the
// manifest paths the validator uses ("spec.lab_template") to the flat body's
// ("lab_template").
func flatFields(err error) error {
	ae, ok := err.(*api.Error)
	if !ok || len(ae.Fields) == 0 {
		return err
	}
	out := *ae
	out.Fields = make([]api.FieldError, len(ae.Fields))
	for i, f := range ae.Fields {
		name := f.Field
		if rest, ok := strings.CutPrefix(name, "spec."); ok {
			name = rest
		} else if rest, ok := strings.CutPrefix(name, "metadata."); ok {
			name = rest
		}
		out.Fields[i] = api.FieldError{Field: name, Message: f.Message}
	}
	return &out
}

func (s *Server) createLab(c *gin.Context) {
	if !s.negotiate(c, objectOffers) {
		return
	}
	l, err := s.readCreate(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	created, err := s.store.CreateLab(c.Request.Context(), l)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Header("Location", labPath(created.Key()))
	s.respondLab(c, http.StatusCreated, created)
}

// readCreate decodes, defaults and validates a create body.
func (s *Server) readCreate(c *gin.Context) (*api.LabInstanceRequest, error) {
	f, err := bodyFormat(c, bodyTypes)
	if err != nil {
		return nil, err
	}
	body, err := s.readBody(c)
	if err != nil {
		return nil, err
	}
	l, flat, err := decodeCreate(f, body)
	if err != nil {
		return nil, err
	}
	if ns := c.Query("namespace"); ns != "" {
		if l.Metadata.Namespace != "" && l.Metadata.Namespace != ns {
			field := "metadata.namespace"
			if flat {
				field = "namespace"
			}
			return nil, fieldError(api.EBADREQUEST, field, "is "+strconv.Quote(l.Metadata.Namespace)+" but ?namespace= is "+strconv.Quote(ns))
		}
		l.Metadata.Namespace = ns
	}
	// Server-owned fields are ignored, so that a manifest read from the API
	// can be posted again; a wrong api_version or kind is reported.
	apiVersion, kind := l.APIVersion, l.Kind
	l.Metadata.UID, l.Metadata.ResourceVersion, l.Metadata.Generation = "", 0, 0
	l.Metadata.CreationTimestamp = nil
	l.Status = api.Status{}
	l.Default()
	l.APIVersion, l.Kind = cmpOr(apiVersion, l.APIVersion), cmpOr(kind, l.Kind)
	if err := api.ValidateCreate(l); err != nil {
		if flat {
			err = flatFields(err)
		}
		return nil, err
	}
	return l, nil
}

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
	if !s.negotiate(c, objectOffers) {
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

// replaceLab is PUT: the body's spec, labels and annotations replace the
// stored ones; finalizers too when the body has the field (absent keeps
// them, so a client unaware of finalizers cannot drop the controller's).
// Status and server-set metadata in the body are ignored. The write must
// name the version it replaces.
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
		func(cur *api.LabInstanceRequest) error {
			next := cur.DeepCopy()
			src := in.DeepCopy()
			next.Spec = src.Spec
			if next.Spec.ResourceLimits == nil {
				next.Spec.ResourceLimits = &api.ResourceLimits{CPU: api.DefaultCPU, Memory: api.DefaultMemory}
			}
			next.Metadata.Labels = src.Metadata.Labels
			next.Metadata.Annotations = src.Metadata.Annotations
			if src.Metadata.Finalizers != nil {
				next.Metadata.Finalizers = src.Metadata.Finalizers
			}
			if src.Metadata.UID != "" {
				next.Metadata.UID = src.Metadata.UID // a mismatch is reported below
			}
			return s.applyUpdate(cur, next)
		})
	if err != nil {
		s.writeError(c, err)
		return
	}
	s.respondLab(c, http.StatusOK, updated)
}

// readReplace decodes a PUT body and its precondition.
func (s *Server) readReplace(c *gin.Context, key api.Key) (*api.LabInstanceRequest, int64, error) {
	f, err := bodyFormat(c, bodyTypes)
	if err != nil {
		return nil, 0, err
	}
	body, err := s.readBody(c)
	if err != nil {
		return nil, 0, err
	}
	var in api.LabInstanceRequest
	if err := decodeStrict(f, body, &in); err != nil {
		return nil, 0, err
	}
	if in.Metadata.Name != "" && in.Metadata.Name != key.Name {
		return nil, 0, fieldError(api.EBADREQUEST, "metadata.name", "is "+strconv.Quote(in.Metadata.Name)+" but the URL names "+strconv.Quote(key.Name))
	}
	if in.Metadata.Namespace != "" && in.Metadata.Namespace != key.Namespace {
		return nil, 0, fieldError(api.EBADREQUEST, "metadata.namespace", "is "+strconv.Quote(in.Metadata.Namespace)+" but the request is for namespace "+strconv.Quote(key.Namespace)+" (?namespace=)")
	}
	var fe api.FieldErrors
	if in.APIVersion != "" && in.APIVersion != api.APIVersion {
		fe.Add("api_version", "must be %s", api.APIVersion)
	}
	if in.Kind != "" && in.Kind != api.Kind {
		fe.Add("kind", "must be %s", api.Kind)
	}
	if err := fe.Err(); err != nil {
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

// applyUpdate checks a user's change of cur into next and applies it. It
// runs inside the store's write transaction, against the locked current
// version, so the immutability rules see what is really stored.
func (s *Server) applyUpdate(cur, next *api.LabInstanceRequest) error {
	if err := api.ValidateUpdate(cur, next); err != nil {
		return err
	}
	// Keep the server's own fields and the stored form of values equal to
	// the stored ones (nil vs. empty), so that a no-op writes nothing.
	m, om := &next.Metadata, &cur.Metadata
	m.UID, m.ResourceVersion, m.Generation = om.UID, om.ResourceVersion, om.Generation
	m.CreationTimestamp, m.DeletionTimestamp = om.CreationTimestamp, om.DeletionTimestamp
	m.Labels = sameMap(om.Labels, m.Labels)
	m.Annotations = sameMap(om.Annotations, m.Annotations)
	if slices.Equal(om.Finalizers, m.Finalizers) || len(m.Finalizers) == 0 && len(om.Finalizers) == 0 {
		m.Finalizers = om.Finalizers
	}
	if len(m.Finalizers) == 0 {
		m.Finalizers = nil
	}
	next.Spec.Environment = sameMap(cur.Spec.Environment, next.Spec.Environment)
	next.APIVersion, next.Kind = api.APIVersion, api.Kind
	next.Status = cur.Status
	*cur = *next
	return nil
}

// sameMap returns old when it holds what m holds, else m (nil if empty).
func sameMap(old, m api.StringMap) api.StringMap {
	if maps.Equal(old, m) {
		return old
	}
	if len(m) == 0 {
		return nil
	}
	return m
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
