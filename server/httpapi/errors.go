package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// writeError is the one place that answers an error: api.NewProblem maps
// its code to the HTTP status through the code table in internal/api.
// Errors that are not *api.Error are internals: the client gets "internal
// error", the log gets the real error under the request id the client also
// sees.
func (s *Server) writeError(c *gin.Context, err error) {
	p := api.NewProblem(err, c.Request.URL.Path)
	var ae *api.Error
	if p.Code == api.EUNAVAILABLE {
		// The store or engine is away (or this replica is shutting down):
		// not a bug; the cause goes to the log, "retry later" to the client.
		s.logger(c).Warn("unavailable", "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
	} else if !errors.As(err, &ae) {
		log := s.logger(c)
		if c.Request.Context().Err() != nil && errors.Is(err, context.Canceled) {
			// The client went away mid-request; nobody reads the answer.
			log.Info("request canceled by client", "err", err)
		} else {
			log.Error("internal error", "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
		}
	}
	s.writeProblem(c, p)
}

// writeProblem writes p in the negotiated format (problem+json unless the
// client asked for YAML or XML), unless a response is already under way,
// as in a watch stream, where all that is left is to end it.
func (s *Server) writeProblem(c *gin.Context, p api.Problem) {
	c.Abort()
	if c.Writer.Written() {
		s.logger(c).Warn("error after the response started", "status", p.Status, "detail", p.Detail)
		return
	}
	f := problemFormat(c)
	body, err := f.EncodeProblem(p)
	ct := f.ProblemType()
	if err != nil {
		s.logger(c).Error("encode problem", "err", err)
		body, ct = []byte(`{"type":"about:blank","title":"Internal Server Error","status":500}`+"\n"), "application/problem+json"
		p.Status = http.StatusInternalServerError
	}
	c.Header("X-Content-Type-Options", "nosniff")
	if p.Status == http.StatusServiceUnavailable {
		s.retryAfter(c)
	}
	c.Data(p.Status, ct, body)
}

// errorf is a shorthand for the *api.Error handlers return.
func errorf(code, format string, args ...any) error { return api.Errorf(code, format, args...) }

// fieldError is an *api.Error naming one field.
func fieldError(code, field, message string) error {
	return &api.Error{Code: code, Fields: []api.FieldError{{Field: field, Message: message}}}
}

// notFound answers routes that do not exist.
func (s *Server) notFound(c *gin.Context) {
	s.writeError(c, errorf(api.ENOTFOUND, "no route %s %s", c.Request.Method, c.Request.URL.Path))
}

// methodNotAllowed answers known routes with a wrong method; the router has
// already set the Allow header.
func (s *Server) methodNotAllowed(c *gin.Context) {
	s.writeError(c, errorf(api.EMETHODNOTALLOWED, "method %s is not allowed on %s (allowed: %s)",
		c.Request.Method, c.Request.URL.Path, c.Writer.Header().Get("Allow")))
}

// retryAfter sets Retry-After on a 503, which is always temporary here:
// the database or the engine is away, or this replica is shutting down.
func (s *Server) retryAfter(c *gin.Context) {
	c.Header("Retry-After", strconv.Itoa(int(max(s.cfg.RetryAfter.Round(time.Second), time.Second)/time.Second)))
}
