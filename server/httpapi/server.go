// Package httpapi is labd's REST API: the lab-instances collection, its
// watch stream and the status endpoints, over JSON, YAML and XML.
//
// Routes (every one takes ?namespace=, "default" when absent, except that a
// list or watch without it covers all namespaces, so that the design
// document's `curl /api/lab-instances/` shows every lab):
//
//	POST   /api/lab-instances/           create (flat body or manifest)      201
//	GET    /api/lab-instances/           list; ?watch=true streams changes
//	GET    /api/lab-instances/{name}     read (If-None-Match: 304)
//	PUT    /api/lab-instances/{name}     replace spec, labels, annotations   needs a version
//	PATCH  /api/lab-instances/{name}     JSON merge patch (RFC 7396)
//	DELETE /api/lab-instances/{name}     200 gone, or 202 marked (finalizers)
//	GET    /api/lab-instances/{name}/events   history, oldest first
//	POST   /api/lab-instances/{name}/start    start a PENDING lab now        202
//	POST   /api/lab-instances/{name}/stop     end a RUNNING lab             202
//	GET    /api/lab-instances/{name}/logs     container output (?lines=N)   text/plain
//	GET    /api/lab-instances/{name}/access   gateway URL and access token  read-write token
//	POST   /api/lab-instances/{name}/access/rotate   a new access token
//	GET    /api/status/health, ready, leader, bookmarks
//
// Writes are conditional on a version from metadata.resource_version, If-Match
// ("42", the ETag every object response carries) or, for DELETE,
// ?resource_version=; a stale one is 409 and writes nothing.
//
// With Config.Tokens, every lab-instances route needs "Authorization:
// Bearer <token>" (401 without, 403 for a read-only token on a write);
// health and ready never do, the other status routes only with
// Config.MetricsAuth (auth.go).
//
// It is the only package that imports Gin, so the router can be swapped
// without touching the rest of the server. Handlers read: decode, call,
// encode. Formats live in the codec subpackage (content negotiation, strict
// decoding of JSON, YAML and XML, encoding); the rules (defaulting and
// validation of a create, the merge of a replace or a merge patch into the
// stored lab, start and stop, immutability, the state machine) are pure
// functions of internal/api that handlers pass to the store; and every error
// reaches the client through one mapper (errors.go, over internal/api's code
// table) as RFC 7807 problem+json.
package httpapi

import (
	"cmp"
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/images"
	"github.com/labrm/terraform-provider-lab/server/store"
)

func init() {
	// Gin's debug mode prints every route at start-up to stdout; we log
	// through slog instead.
	gin.SetMode(gin.ReleaseMode)
}

// Store is what the API needs from the store. It is declared here, listing
// only the methods used, so that tests can put a fake in front of the real
// store for error paths; *store.DB satisfies it.
type Store interface {
	CreateLab(ctx context.Context, l *api.LabInstanceRequest) (*api.LabInstanceRequest, error)
	GetLab(ctx context.Context, key api.Key) (*api.LabInstanceRequest, error)
	ListLabs(ctx context.Context, opts store.ListOptions) (*api.LabInstanceRequestList, error)
	UpdateLab(ctx context.Context, key api.Key, opts store.WriteOptions, mutate store.Mutator) (*api.LabInstanceRequest, error)
	UpdateLabWithRetry(ctx context.Context, key api.Key, opts store.WriteOptions, mutate store.Mutator) (*api.LabInstanceRequest, error)
	DeleteLab(ctx context.Context, key api.Key, opts store.WriteOptions) (*api.LabInstanceRequest, bool, error)
	LabHistory(ctx context.Context, key api.Key) (*api.LabEventList, error)
	ReadEvents(ctx context.Context, after int64, limit int) ([]store.Event, error)
	EventBounds(ctx context.Context) (floor, current int64, err error)
	LatestPosition(ctx context.Context) (int64, error)
	Bookmarks(ctx context.Context) ([]api.WatcherBookmark, error)
	CountByPhase(ctx context.Context) (map[api.Phase]int64, error)
	CountDeleting(ctx context.Context) (int64, error)
	Counters(ctx context.Context) (map[string]int64, error)
	LabLogs(ctx context.Context, uid string) (store.LabLogs, bool, error)
	Ping(ctx context.Context) error
	// LabAccess and RotateAccess read and replace a lab's access token.
	LabAccess(ctx context.Context, key api.Key) (*api.LabInstanceRequest, string, error)
	RotateAccess(ctx context.Context, key api.Key) (*api.LabInstanceRequest, string, error)
}

// Notifier wakes watch streams when new outbox events may be readable. A
// wake-up is a hint only: streams poll as well, so a lost one costs latency,
// never an event. *store.DB satisfies it.
type Notifier interface {
	Subscribe() (<-chan struct{}, func())
}

// Config configures the API. Only Store is required.
type Config struct {
	Store   Store
	Logger  *slog.Logger
	Version string // reported by /api/status/health
	Now     func() time.Time

	// ControlPlane serves logs, leader status and this replica's queue
	// and finalizer counts; optional.
	ControlPlane ControlPlane
	// Capacity answers GET /api/status/capacity and Workspaces the
	// workspace routes; optional (503 without).
	Capacity   CapacityReader
	Workspaces Workspaces

	// Access is the lab gateway, which GET .../access names the URL of;
	// optional (without it the URL is status.access_url).
	Access Access

	// Metrics, if set, is told about every request; MetricsHandler serves
	// GET /api/status/metrics.
	Metrics        HTTPObserver
	MetricsHandler http.Handler

	// Tokens, when set, guards /api/lab-instances with bearer tokens:
	// read-only ones may GET (lists, watches, logs), read-write ones
	// anything (auth.go). Nil serves the API to anyone who can connect,
	// which labd allows on loopback addresses only.
	Tokens *Tokens
	// MetricsAuth guards the monitoring endpoints (metrics, status, leader,
	// bookmarks, finalizers) with Tokens as well, any role. Health and
	// ready stay open for probes.
	MetricsAuth bool

	// Notify, when set, wakes watch streams as soon as something was
	// written; without it they poll every PollInterval.
	Notify Notifier

	// Ready holds readiness checks by name, in addition to "database"
	// (Store.Ping), which is always present unless overridden here. Later
	// parts (leader election, reconciler) add theirs.
	Ready map[string]func(ctx context.Context) error

	// MaxBodyBytes bounds request bodies; larger ones get 413. Default 1 MiB.
	MaxBodyBytes int64
	// PollInterval is how often a watch re-reads the outbox when there is
	// no Notify. Default 200ms.
	PollInterval time.Duration
	// FallbackPollInterval is the same with Notify, covering lost
	// wake-ups. Default 2s.
	FallbackPollInterval time.Duration
	// BookmarkInterval is how often a watch sends a BOOKMARK. Default 15s.
	BookmarkInterval time.Duration
	// WatchTimeout ends a watch that names no timeout_seconds, and caps
	// those that do, so that clients re-watch now and then. Default 30m.
	WatchTimeout time.Duration
	// ReadyTimeout bounds each readiness check. Default 2s.
	ReadyTimeout time.Duration
	// Images, when it restricts, refuses a create whose image it does not
	// allow (422 naming spec.lab_template). Nil allows every image.
	Images *images.Policy

	// RetryAfter is the Retry-After of every 503 (the database or engine
	// unavailable, a replica shutting down). Default 2s.
	RetryAfter time.Duration
}

// Defaults.
const (
	DefaultMaxBodyBytes         = 1 << 20
	DefaultPollInterval         = 200 * time.Millisecond
	DefaultFallbackPollInterval = 2 * time.Second
	DefaultBookmarkInterval     = 15 * time.Second
	DefaultWatchTimeout         = 30 * time.Minute
	DefaultReadyTimeout         = 2 * time.Second
	DefaultRetryAfter           = 2 * time.Second
)

// HTTPObserver is told about every request, by route template.
type HTTPObserver interface {
	ObserveHTTP(route, method string, code int, d time.Duration)
}

// Server serves the API. Create it with New.
type Server struct {
	started time.Time
	cfg     Config
	store   Store
	log     *slog.Logger
	now     func() time.Time
	checks  map[string]func(ctx context.Context) error
	engine  *gin.Engine

	// ctx ends every watch stream on Close.
	ctx    context.Context
	cancel context.CancelFunc
}

// New returns a Server for cfg. It panics without a Store, which is a
// programming error.
func New(cfg Config) *Server {
	if cfg.Store == nil {
		panic("httpapi: Config.Store is required")
	}
	cfg.Logger = cmp.Or(cfg.Logger, slog.New(slog.NewTextHandler(io.Discard, nil)))
	cfg.Version = cmp.Or(cfg.Version, "dev")
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, DefaultMaxBodyBytes)
	cfg.PollInterval = cmp.Or(cfg.PollInterval, DefaultPollInterval)
	cfg.FallbackPollInterval = cmp.Or(cfg.FallbackPollInterval, DefaultFallbackPollInterval)
	cfg.BookmarkInterval = cmp.Or(cfg.BookmarkInterval, DefaultBookmarkInterval)
	cfg.WatchTimeout = cmp.Or(cfg.WatchTimeout, DefaultWatchTimeout)
	cfg.ReadyTimeout = cmp.Or(cfg.ReadyTimeout, DefaultReadyTimeout)
	cfg.RetryAfter = cmp.Or(cfg.RetryAfter, DefaultRetryAfter)

	ready := map[string]func(context.Context) error{"database": cfg.Store.Ping}
	for name, check := range cfg.Ready {
		ready[name] = check
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		started: cfg.Now(),
		cfg:     cfg,
		store:   cfg.Store,
		log:     cfg.Logger,
		now:     cfg.Now,
		checks:  ready,
		ctx:     ctx,
		cancel:  cancel,
	}
	s.engine = s.router()
	return s
}

// Handler returns the http.Handler serving every route.
func (s *Server) Handler() http.Handler { return s.engine }

// Close ends every open watch stream, so that http.Server.Shutdown, which
// waits for handlers to return, does not wait for them until their timeout.
// Register it with http.Server.RegisterOnShutdown. Requests other than
// watches are unaffected.
func (s *Server) Close() { s.cancel() }
