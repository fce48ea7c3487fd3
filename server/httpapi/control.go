package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/httpapi/codec"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// ControlPlane is the operations port of the API: what the logs, leader
// and status routes need to know of this replica's leader-elected part
// (its container engine, its election, its work queue) beyond the store.
// It is optional: without it logs and leader answer 503. Unrelated to
// reconcile.Controller, which it may front.
type ControlPlane interface {
	// Logs returns the last lines of the lab's container output, or an
	// error wrapping ErrNoContainer.
	Logs(ctx context.Context, lab *api.LabInstanceRequest, lines int) (string, error)
	// Leader reports leader election as this replica sees it.
	Leader(ctx context.Context) (api.LeaderStatus, error)
	// QueueDepth is the number of labs ready to be reconciled here (0 on
	// a standby).
	QueueDepth() int
	// Finalizing is the number of finalizers running here now.
	Finalizing() int64
}

// ErrNoContainer: the lab has no container to read logs from.
var ErrNoContainer = errors.New("no container")

// Log line bounds for GET .../logs.
const (
	defaultLogLines = 100
	maxLogLines     = 10000
)

func (s *Server) needControlPlane(c *gin.Context) bool {
	if s.cfg.ControlPlane == nil {
		s.writeError(c, errorf(api.EUNAVAILABLE, "this labd runs without a controller"))
		return false
	}
	return true
}

// startLab is POST .../{name}/start: a PENDING lab starts now, whatever its
// scheduled_start_time (api.RequestStart); 202 with the lab.
func (s *Server) startLab(c *gin.Context) { s.request(c, api.RequestStart) }

// stopLab is POST .../{name}/stop: a RUNNING lab is stopped and ends
// COMPLETED once its container is down (api.RequestStop); 202 with the lab.
func (s *Server) stopLab(c *gin.Context) { s.request(c, api.RequestStop) }

// request records a start or stop request on the lab.
func (s *Server) request(c *gin.Context, ask func(l *api.LabInstanceRequest, now time.Time) error) {
	key, ok := s.labTarget(c)
	if !ok {
		return
	}
	now := s.now()
	l, err := s.store.UpdateLabWithRetry(c.Request.Context(), key, store.WriteOptions{},
		func(x *api.LabInstanceRequest) error { return ask(x, now) })
	if err != nil {
		s.writeError(c, err)
		return
	}
	s.respondLab(c, http.StatusAccepted, l)
}

// labLogs is GET .../{name}/logs?lines=N: the container's output as
// text/plain, 409 when the lab has no container. An ended lab's container
// is removed once its last output is saved in the store: that is served,
// by any replica.
func (s *Server) labLogs(c *gin.Context) {
	key, err := labKey(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	lines, given, err := intParam(c, "lines")
	if err != nil {
		s.writeError(c, err)
		return
	}
	if !given {
		lines = defaultLogLines
	}
	if lines < 1 || lines > maxLogLines {
		s.writeError(c, fieldError(api.EBADREQUEST, "lines", "must be between 1 and 10000"))
		return
	}
	l, err := s.store.GetLab(c.Request.Context(), key)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if served, err := s.savedLogs(c, l, int(lines)); served || err != nil {
		if err != nil {
			s.writeError(c, err)
		}
		return
	}
	if !s.needControlPlane(c) {
		return
	}
	if l.Status.ContainerID == "" {
		s.writeError(c, errorf(api.ECONFLICT, "lab %s is %s and has no container yet", key, l.Status.Phase))
		return
	}
	out, err := s.cfg.ControlPlane.Logs(c.Request.Context(), l, int(lines))
	if errors.Is(err, ErrNoContainer) {
		s.writeError(c, errorf(api.ECONFLICT, "lab %s's container no longer exists", key))
		return
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(out))
}

// leader is GET /api/status/leader, answered by every replica.
func (s *Server) leader(c *gin.Context) {
	if !s.negotiate(c, codec.Status) || !s.needControlPlane(c) {
		return
	}
	st, err := s.cfg.ControlPlane.Leader(c.Request.Context())
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	s.respond(c, http.StatusOK, st)
}

// bookmarks is GET /api/status/bookmarks: every outbox watcher's progress.
func (s *Server) bookmarks(c *gin.Context) {
	if !s.negotiate(c, codec.Status) {
		return
	}
	bms, err := s.store.Bookmarks(c.Request.Context())
	if err != nil {
		s.writeError(c, err)
		return
	}
	out := api.BookmarkStatus{Watchers: bms}
	if out.Watchers == nil {
		out.Watchers = []api.WatcherBookmark{}
	}
	for _, b := range bms {
		if b.Name == api.ControllerWatcher {
			out.Bookmark, out.CurrentVersion, out.Lag = b.Bookmark, b.CurrentVersion, b.Lag
		}
	}
	if out.CurrentVersion == 0 {
		_, out.CurrentVersion, _ = s.store.EventBounds(c.Request.Context())
	}
	c.Header("Cache-Control", "no-store")
	s.respond(c, http.StatusOK, out)
}
