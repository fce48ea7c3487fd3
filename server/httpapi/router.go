package httpapi

import (
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/httpapi/openapi"
)

// router builds the routes. Later areas (start/stop/logs, leader,
// bookmarks, metrics) add a line here and a file of handlers.
func (s *Server) router() *gin.Engine {
	e := gin.New()
	// Answer exactly what was asked: no redirects between /x and /x/ (a
	// client POSTing to the "wrong" one would lose its body on a 301),
	// and 405 rather than 404 for a known path with a wrong method.
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	e.HandleMethodNotAllowed = true
	// Log the peer's address, not a client-supplied X-Forwarded-For.
	_ = e.SetTrustedProxies(nil)
	e.Use(s.requestID, s.accessLog, s.observe, s.recovery)
	e.NoRoute(s.notFound)
	e.NoMethod(s.methodNotAllowed)

	// Bearer tokens guard the labs (auth.go); with MetricsAuth, the
	// monitoring routes too. Health and ready stay open for probes.
	// Every GET route answers HEAD too (withHead): the same handler, whose
	// body net/http discards (a watch ends after its headers).
	labs := withHead{e.Group("/api/lab-instances", s.requireToken(scopeAPI))}
	for _, p := range []string{"", "/"} {
		labs.POST(p, s.createLab)
		labs.GET(p, s.listLabs)
		labs.DELETE(p, s.deleteLabs)
	}
	labs.POST("/stop", s.stopLabs)
	labs.GET("/:name", s.getLab)
	labs.PUT("/:name", s.replaceLab)
	labs.PATCH("/:name", s.patchLab)
	labs.DELETE("/:name", s.deleteLab)
	labs.GET("/:name/events", s.labEvents)
	labs.POST("/:name/start", s.startLab)
	labs.POST("/:name/stop", s.stopLab)
	labs.GET("/:name/logs", s.labLogs)
	labs.GET("/:name/access", s.requireReadWrite, s.labAccess)
	labs.POST("/:name/access/rotate", s.rotateAccess)

	workspaces := withHead{e.Group("/api/workspaces", s.requireToken(scopeAPI))}
	for _, p := range []string{"", "/"} {
		workspaces.GET(p, s.listWorkspaces)
	}
	workspaces.DELETE("/:namespace/:student", s.deleteWorkspace)

	statusGroup := e.Group("/api/status")
	status := withHead{statusGroup}
	status.GET("/health", s.health) // load balancers often probe with HEAD
	status.GET("/ready", s.ready)
	monitoring := withHead{statusGroup.Group("", s.requireToken(scopeMonitoring))}
	monitoring.GET("/leader", s.leader)
	monitoring.GET("/bookmarks", s.bookmarks)
	monitoring.GET("/status", s.systemStatus)
	monitoring.GET("/finalizers", s.finalizers)
	monitoring.GET("/capacity", s.capacity)
	if s.cfg.MetricsHandler != nil {
		monitoring.GET("/metrics", gin.WrapH(s.cfg.MetricsHandler))
	}

	// The OpenAPI document and Swagger UI (/openapi.json, /openapi.yaml,
	// /docs), open like the probes.
	openapi.Register(withHead{e})
	return e
}

// withHead registers every GET route for HEAD as well, with the same
// handlers (RFC 9110: HEAD is GET without the body).
type withHead struct{ gin.IRoutes }

func (w withHead) GET(path string, h ...gin.HandlerFunc) gin.IRoutes {
	w.IRoutes.HEAD(path, h...)
	return w.IRoutes.GET(path, h...)
}

const (
	headerRequestID = "X-Request-Id"
	ctxLogger       = "httpapi.logger"
	ctxRequestID    = "httpapi.request_id"
)

// slowRequest is how long a request may take before its access log line
// is logged at info level rather than debug.
const slowRequest = time.Second

// requestIDRe is what a client-sent request id may look like; anything
// else is replaced, so that ids are safe to log and echo.
var requestIDRe = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// requestID gives every request an id, the client's if it sent a sane one,
// echoed in the response and attached to every log line of the request.
func (s *Server) requestID(c *gin.Context) {
	id := c.GetHeader(headerRequestID)
	if !requestIDRe.MatchString(id) {
		id = uuid.NewString()
	}
	c.Header(headerRequestID, id)
	c.Set(ctxRequestID, id)
	c.Next()
}

// logger is the request's logger, with its request id. It is made on
// first use: most requests log nothing.
func (s *Server) logger(c *gin.Context) *slog.Logger {
	if v, ok := c.Get(ctxLogger); ok {
		return v.(*slog.Logger)
	}
	l := s.log
	if id := c.GetString(ctxRequestID); id != "" {
		l = l.With("request_id", id)
		c.Set(ctxLogger, l)
	}
	return l
}

// accessLog logs one line per request: at debug level, unless it failed
// (5xx: warn) or was slow (info). A line per request at info level cost a
// tenth of labd's CPU per create (labbench's creates profile); what every
// request did is counted in the request metrics (observe), which see them
// all. The query is left out: it may hold e-mail addresses.
func (s *Server) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	d := time.Since(start)
	level := slog.LevelDebug
	switch {
	case c.Writer.Status() >= 500:
		level = slog.LevelWarn
	case d >= slowRequest && !strings.HasPrefix(c.Request.URL.Path, "/api/status/") && !isWatch(c):
		level = slog.LevelInfo
	}
	if !s.log.Enabled(c.Request.Context(), level) {
		return
	}
	s.logger(c).Log(c.Request.Context(), level, "request",
		"method", c.Request.Method,
		"path", c.Request.URL.Path,
		"status", c.Writer.Status(),
		"bytes", max(c.Writer.Size(), 0),
		"duration", d,
		"remote", c.ClientIP(),
	)
}

// isWatch tells a watch stream, which is long by design.
func isWatch(c *gin.Context) bool {
	w := c.Query("watch")
	return w != "" && w != "false" && w != "0"
}

// observe reports each request to the metrics, by route template.
func (s *Server) observe(c *gin.Context) {
	if s.cfg.Metrics == nil {
		c.Next()
		return
	}
	start := time.Now()
	c.Next()
	s.cfg.Metrics.ObserveHTTP(c.FullPath(), c.Request.Method, c.Writer.Status(), time.Since(start))
}

// recovery turns a panic into a 500 problem and a logged stack.
func (s *Server) recovery(c *gin.Context) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if r == http.ErrAbortHandler {
			panic(r)
		}
		s.logger(c).Error("panic serving request", "method", c.Request.Method, "path", c.Request.URL.Path,
			"panic", r, "stack", string(debug.Stack()))
		s.writeError(c, errorf(api.EINTERNAL, "internal error"))
	}()
	c.Next()
}
