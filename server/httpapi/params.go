package httpapi

import (
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/httpapi/codec"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// namespaceParam is ?namespace=, "default" when absent.
func namespaceParam(c *gin.Context) (string, error) {
	ns := c.Query("namespace")
	if ns == "" {
		return api.DefaultNamespace, nil
	}
	if err := api.ValidateName(ns); err != nil {
		return "", fieldError(api.EBADREQUEST, "namespace", err.Error())
	}
	return ns, nil
}

// labKey is the lab a /api/lab-instances/{name} request is about.
func labKey(c *gin.Context) (api.Key, error) {
	ns, err := namespaceParam(c)
	if err != nil {
		return api.Key{}, err
	}
	name := c.Param("name")
	if err := api.ValidateName(name); err != nil {
		return api.Key{}, fieldError(api.EBADREQUEST, "name", err.Error())
	}
	return api.Key{Namespace: ns, Name: name}, nil
}

// labTarget starts a request about one lab that answers with the lab:
// it settles the response format and the key, and answers the error
// itself when either is wrong.
func (s *Server) labTarget(c *gin.Context) (api.Key, bool) {
	if !s.negotiate(c, codec.Objects) {
		return api.Key{}, false
	}
	key, err := labKey(c)
	if err != nil {
		s.writeError(c, err)
		return api.Key{}, false
	}
	return key, true
}

// filter selects labs, for a list (served by the store's indexes) and for
// a watch (applied to each event's object).
type filter struct {
	namespace    string // "" = all namespaces
	name         string // watch only
	phase        api.Phase
	studentEmail string
	labels       map[string]string
}

// parseFilter reads the filter query parameters. A list or watch without
// ?namespace= covers all namespaces: the design document's
// `curl /api/lab-instances/` shows every lab.
func parseFilter(c *gin.Context) (filter, error) {
	var f filter
	if ns := c.Query("namespace"); ns != "" {
		if err := api.ValidateName(ns); err != nil {
			return f, fieldError(api.EBADREQUEST, "namespace", err.Error())
		}
		f.namespace = ns
	}
	if p := c.Query("phase"); p != "" {
		phase, err := api.ParsePhase(p)
		if err != nil {
			return f, fieldError(api.EBADREQUEST, "phase", err.Error())
		}
		f.phase = phase
	}
	f.studentEmail = c.Query("student_email")
	if sel := c.Query("label_selector"); sel != "" {
		labels, err := api.ParseLabelSelector(sel)
		if err != nil {
			return f, fieldError(api.EBADREQUEST, "label_selector", err.Error())
		}
		f.labels = labels
	}
	return f, nil
}

func (f filter) listOptions() store.ListOptions {
	return store.ListOptions{Namespace: f.namespace, Phase: f.phase, StudentEmail: f.studentEmail, LabelSelector: f.labels}
}

// matches applies the filter to one object.
func (f filter) matches(l *api.LabInstanceRequest) bool {
	switch {
	case l == nil:
		return false
	case f.namespace != "" && l.Metadata.Namespace != f.namespace,
		f.name != "" && l.Metadata.Name != f.name,
		f.phase != "" && l.Status.Phase != f.phase,
		f.studentEmail != "" && strings.ToLower(l.Spec.StudentEmail) != strings.ToLower(f.studentEmail):
		// The store matches e-mail addresses lower-cased (its index holds
		// them so); a watch matches the same way.
		return false
	}
	for k, v := range f.labels {
		if got, ok := l.Metadata.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// intParam reads an optional non-negative integer query parameter.
func intParam(c *gin.Context, name string) (int64, bool, error) {
	s := c.Query(name)
	if s == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false, fieldError(api.EBADREQUEST, name, "must be a non-negative integer")
	}
	return n, true, nil
}

// precondition is the version a write must apply to, from If-Match and
// from the version the body (or ?resource_version=) names. given reports
// whether the client named one at all; "If-Match: *" names "whatever is
// current" and gives version 0.
func precondition(c *gin.Context, bodyVersion int64) (version int64, given bool, err error) {
	var headerVersion int64
	h := strings.TrimSpace(c.GetHeader("If-Match"))
	switch {
	case h == "*":
		given = true
	case h != "":
		v := strings.Trim(h, `"`)
		n, perr := strconv.ParseInt(v, 10, 64)
		if strings.HasPrefix(h, "W/") || strings.Contains(h, ",") || perr != nil || n <= 0 {
			return 0, false, fieldError(api.EBADREQUEST, "If-Match", `must be one strong ETag as returned in the ETag header, like "42", or *`)
		}
		headerVersion, given = n, true
	}
	if bodyVersion != 0 {
		if headerVersion != 0 && headerVersion != bodyVersion {
			return 0, false, fieldError(api.EBADREQUEST, "metadata.resource_version",
				"disagrees with If-Match "+h+"; send one version")
		}
		return bodyVersion, true, nil
	}
	return headerVersion, given, nil
}
