package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// Access is the lab gateway, as the access routes need it: a lab's URL,
// and forgetting what the gateway holds of a lab whose token changed, so
// that the old token stops working at once on this replica.
type Access interface {
	URL(key api.Key) string
	Forget(key api.Key)
}

// labAccess is GET .../{name}/access: the lab's gateway URL and access
// token. A secret: it needs a read-write token even though it reads, and
// it is never cached. The token is never logged.
func (s *Server) labAccess(c *gin.Context) {
	key, ok := s.labTarget(c)
	if !ok {
		return
	}
	lab, token, err := s.store.LabAccess(c.Request.Context(), key)
	if err != nil {
		s.writeError(c, err)
		return
	}
	s.respondAccess(c, lab, token)
}

// rotateAccess is POST .../{name}/access/rotate: a new token replaces the
// old one, which stops letting anyone in.
func (s *Server) rotateAccess(c *gin.Context) {
	key, ok := s.labTarget(c)
	if !ok {
		return
	}
	lab, token, err := s.store.RotateAccess(c.Request.Context(), key)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if s.cfg.Access != nil {
		s.cfg.Access.Forget(key)
	}
	s.logger(c).Info("access token rotated", "lab", key.String())
	s.respondAccess(c, lab, token)
}

func (s *Server) respondAccess(c *gin.Context, lab *api.LabInstanceRequest, token string) {
	out := api.LabAccess{Token: token, URL: lab.Status.AccessURL}
	if s.cfg.Access != nil {
		out.URL = s.cfg.Access.URL(lab.Key())
	}
	c.Header("Cache-Control", "no-store")
	s.respond(c, http.StatusOK, out)
}
