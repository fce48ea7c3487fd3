package httpapi

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/httpapi/codec"
)

// health is GET /api/status/health: the process is up and serving. It
// checks nothing else, so that a liveness probe does not restart a process
// whose database is briefly away.
func (s *Server) health(c *gin.Context) {
	if !s.negotiate(c, codec.Status) {
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
	if !s.negotiate(c, codec.Status) {
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
	if status == http.StatusServiceUnavailable {
		s.retryAfter(c)
	}
	s.respond(c, status, body)
}

// Counter names the controller keeps in the store.
const (
	counterFinalizersCompleted = "finalizers_completed"
	counterFinalizersFailed    = "finalizers_failed"
)

// systemStatus is GET /api/status/status: labs per phase from the
// database, and this replica's view of leadership and its queue.
func (s *Server) systemStatus(c *gin.Context) {
	if !s.negotiate(c, codec.Status) {
		return
	}
	ctx := c.Request.Context()
	phases, err := s.store.CountByPhase(ctx)
	if err != nil {
		s.writeError(c, err)
		return
	}
	now := s.now()
	st := api.SystemStatus{Service: api.ServiceName, Version: s.cfg.Version, Phases: phases,
		StartedAt: s.started.UTC(), UptimeSeconds: now.Sub(s.started).Seconds()}
	for _, n := range phases {
		st.Total += n
	}
	if s.cfg.ControlPlane != nil {
		ls, err := s.cfg.ControlPlane.Leader(ctx)
		if err != nil {
			s.writeError(c, err)
			return
		}
		st.Identity, st.Leader, st.IsLeader = ls.Identity, ls.Leader, ls.IsLeader
		st.QueueDepth = s.cfg.ControlPlane.QueueDepth()
	}
	c.Header("Cache-Control", "no-store")
	s.respond(c, http.StatusOK, st)
}

// finalizers is GET /api/status/finalizers: labs waiting for their
// finalizer (from the database), finalizers running on this replica, and
// the totals completed and failed (kept in the database, so every replica
// reports the same).
func (s *Server) finalizers(c *gin.Context) {
	if !s.negotiate(c, codec.Status) {
		return
	}
	ctx := c.Request.Context()
	pending, err := s.store.CountDeleting(ctx)
	if err != nil {
		s.writeError(c, err)
		return
	}
	counters, err := s.store.Counters(ctx)
	if err != nil {
		s.writeError(c, err)
		return
	}
	st := api.FinalizerStatus{Pending: pending, Completed: counters[counterFinalizersCompleted], Failed: counters[counterFinalizersFailed]}
	if s.cfg.ControlPlane != nil {
		st.Processing = s.cfg.ControlPlane.Finalizing()
		st.Pending = max(0, st.Pending-st.Processing)
	}
	c.Header("Cache-Control", "no-store")
	s.respond(c, http.StatusOK, st)
}
