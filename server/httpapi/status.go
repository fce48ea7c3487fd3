package httpapi

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// health is GET /api/status/health: the process is up and serving. It
// checks nothing else, so that a liveness probe does not restart a process
// whose database is briefly away.
func (s *Server) health(c *gin.Context) {
	if !s.negotiate(c, statusOffers) {
		return
	}
	s.respond(c, http.StatusOK, api.Health{
		Status:    "healthy",
		Timestamp: s.now().UTC(),
		Service:   api.ServiceName,
		Version:   s.cfg.Version,
	})
}

// ready is GET /api/status/ready: 200 when every check passes, else 503
// naming the failing ones. Checks run concurrently, each bounded by
// ReadyTimeout; their errors are logged, and only a safe message (the
// *api.Error text, else "unavailable") is shown.
func (s *Server) ready(c *gin.Context) {
	if !s.negotiate(c, statusOffers) {
		return
	}
	names := slices.Sorted(maps.Keys(s.checks))
	results := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.ReadyTimeout)
			defer cancel()
			results[i] = s.checks[name](ctx)
		})
	}
	wg.Wait()
	body := api.Ready{Status: "ready", Checks: map[string]string{}}
	status := http.StatusOK
	for i, name := range names {
		if err := results[i]; err != nil {
			s.logger(c).Warn("readiness check failed", "check", name, "err", err)
			msg := "unavailable"
			if api.ErrorCode(err) != api.EINTERNAL {
				msg = api.ErrorMessage(err)
			}
			body.Checks[name] = msg
			body.Status, status = "not_ready", http.StatusServiceUnavailable
			continue
		}
		body.Checks[name] = "ok"
	}
	c.Header("Cache-Control", "no-store")
	s.respond(c, status, body)
}
