package httpapi

import (
	"encoding/xml"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/httpapi/codec"
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

	ResourceRequests   *api.ResourceRequests `json:"resource_requests" xml:"resource_requests"`
	Workspace          *api.Workspace        `json:"workspace" xml:"workspace"`
	Command            []string              `json:"command" xml:"command>arg"`
	Args               []string              `json:"args" xml:"args>arg"`
	Port               int                   `json:"port" xml:"port"`
	ReadinessPath      string                `json:"readiness_path" xml:"readiness_path"`
	IdleTimeoutMinutes int                   `json:"idle_timeout_minutes" xml:"idle_timeout_minutes"`
	SecurityContext    *api.SecurityContext  `json:"security_context" xml:"security_context"`
}

func (r *createRequest) lab() *api.LabInstanceRequest {
	return &api.LabInstanceRequest{
		Metadata: api.ObjectMeta{
			Name: r.Name, Namespace: r.Namespace, Labels: r.Labels, Annotations: r.Annotations,
		},
		Spec: api.Spec{
			LabTemplate: r.LabTemplate, StudentEmail: r.StudentEmail, DurationMinutes: r.DurationMinutes,
			ScheduledStartTime: r.ScheduledStartTime, Environment: r.Environment, ResourceLimits: r.ResourceLimits,
			ResourceRequests: r.ResourceRequests, Workspace: r.Workspace, Command: r.Command, Args: r.Args, Port: r.Port,
			ReadinessPath: r.ReadinessPath, IdleTimeoutMinutes: r.IdleTimeoutMinutes, SecurityContext: r.SecurityContext,
		},
	}
}

// manifestFields are the top-level fields of the manifest form.
var manifestFields = map[string]bool{"api_version": true, "kind": true, "metadata": true, "spec": true, "status": true}

// decodeCreate reads either form of a create body. flat reports the flat
// form, whose field errors are then named as that form spells them.
func decodeCreate(body *codec.Body) (l *api.LabInstanceRequest, flat bool, err error) {
	names, err := body.Fields()
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
			e := api.Errorf(api.EBADREQUEST,
				"the body mixes the manifest form (%s) with other fields (%s): send either {api_version, kind, metadata, spec} or the flat form {name, lab_template, ...}",
				strings.Join(manifest, ", "), strings.Join(other, ", "))
			for _, f := range other {
				e.Fields = append(e.Fields, api.FieldError{Field: f, Message: "unknown field of the manifest form"})
			}
			return nil, false, e
		}
		l = &api.LabInstanceRequest{}
		if err := body.Decode(l); err != nil {
			return nil, false, err
		}
		return l, false, nil
	}
	var r createRequest
	if err := body.Decode(&r); err != nil {
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

// createLab is POST on the collection: 201 with the stored lab and its
// Location.
func (s *Server) createLab(c *gin.Context) {
	if !s.negotiate(c, codec.Objects) {
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

// readCreate decodes a create body and prepares it (api.PrepareCreate), so
// that bad input is refused before any store work.
func (s *Server) readCreate(c *gin.Context) (*api.LabInstanceRequest, error) {
	body, err := s.readBody(c, codec.Objects)
	if err != nil {
		return nil, err
	}
	l, flat, err := decodeCreate(body)
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
	err = api.PrepareCreate(l)
	if err == nil {
		err = s.checkImage(l)
	}
	if err != nil {
		if flat {
			err = flatFields(err)
		}
		return nil, err
	}
	return l, nil
}

// checkImage applies the installation's allowed images (Config.Images) to
// a create; a replace cannot change the image (lab_template is immutable).
func (s *Server) checkImage(l *api.LabInstanceRequest) error {
	if err := s.cfg.Images.Check(l.Spec.LabTemplate); err != nil {
		return &api.Error{Code: api.EINVALID, Message: "validation failed",
			Fields: []api.FieldError{{Field: "spec.lab_template", Message: err.Error()}}}
	}
	return nil
}
