package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/labrm/terraform-provider-lab/server/httpapi"
	"github.com/labrm/terraform-provider-lab/server/metrics"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// Config is what a labd process is made of. cmd/labd fills it from flags
// and the environment; a zero duration or count means the default of the
// part it configures.
type Config struct {
	// DatabaseURL: "" for the embedded SQLite file store.DefaultSQLitePath,
	// sqlite:PATH, or postgres://... (several replicas).
	DatabaseURL string
	// InstanceID is this replica's identity in leader election (default
	// the host name).
	InstanceID string
	// Listen is the HTTP address, host:port (default 127.0.0.1:8000).
	Listen string
	// DockerHost is the Docker engine labs run on ("" = DOCKER_HOST or
	// Docker's default socket).
	DockerHost string
	// ShutdownTimeout is how long Run waits for requests in flight once
	// its context ends (default 30s).
	ShutdownTimeout time.Duration

	// Controller runs the lab controller on this replica, when leader
	// election picks it; false serves the API only.
	Controller bool
	// AccessHost is the host name in labs' access URLs (default localhost).
	AccessHost string
	// PublishIP is the host address lab ports are published on ("" = every
	// interface).
	PublishIP string
	// CapacityCPU (millicores) and CapacityMemory (bytes) are what labs
	// may reserve in total; 0 = the engine's.
	CapacityCPU    int64
	CapacityMemory int64
	Workers        int
	// StartConcurrency bounds the lab workloads starting at once (default
	// reconcile.DefaultStartConcurrency).
	StartConcurrency int
	ProvisionTimeout time.Duration
	StopTimeout      time.Duration
	ProbeInterval    time.Duration
	ResyncPeriod     time.Duration
	OutboxRetention  time.Duration
	LockName         string
	LeaseDuration    time.Duration
	RenewDeadline    time.Duration
	RetryPeriod      time.Duration

	// APITokens guards the API (nil: open; the caller decides whether that
	// is allowed). The caller may replace the tokens while Run runs.
	APITokens   *httpapi.Tokens
	MetricsAuth bool
	// CloudEventsSinks are HTTP(S) URLs every change is delivered to.
	CloudEventsSinks []string

	// PprofListen, when set, serves Go's /debug/pprof/ profiles on this
	// address (its own listener, without authentication: keep it on
	// loopback).
	PprofListen string

	// Version is reported by /api/status/health and in CloudEvents.
	Version string
	Logger  *slog.Logger
}

// Defaults of Config.
const (
	DefaultListen          = "127.0.0.1:8000"
	DefaultShutdownTimeout = 30 * time.Second
)

func (c *Config) setDefaults() {
	host, _ := os.Hostname()
	c.InstanceID = cmp.Or(c.InstanceID, host, "labd")
	c.Listen = cmp.Or(c.Listen, DefaultListen)
	c.ShutdownTimeout = cmp.Or(c.ShutdownTimeout, DefaultShutdownTimeout)
	c.Version = cmp.Or(c.Version, "dev")
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
}

// ConfigError is an error in Config found while the parts are built (a
// leader election timing that cannot work, a sink URL): a command reports
// it as a usage error.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Server is one labd process: the store, the HTTP API, and, with
// Config.Controller, the leader-elected control plane. See doc.go.
type Server struct {
	cfg  Config
	log  *slog.Logger
	db   *store.DB
	api  *httpapi.Server
	cp   *controlPlane // nil without Config.Controller
	http *http.Server
	ln   net.Listener
	prof *profiler // nil without Config.PprofListen
}

// New opens the store (applying migrations), builds the parts and binds
// the listener. Nothing is served until Run; if New fails, whatever it
// opened is closed again.
func New(ctx context.Context, cfg Config) (*Server, error) {
	cfg.setDefaults()
	log := cfg.Logger
	m := metrics.New()
	db, err := store.Open(ctx, store.Config{URL: cfg.DatabaseURL, Logger: log.With("component", "store"), OnConflict: m.Conflict})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	apiCfg := httpapi.Config{
		Store:          db,
		Notify:         db,
		Logger:         log.With("component", "http"),
		Version:        cfg.Version,
		Metrics:        m,
		MetricsHandler: m.Handler(),
		Tokens:         cfg.APITokens,
		MetricsAuth:    cfg.MetricsAuth,
	}
	sources := metrics.Sources{Bookmarks: db.Bookmarks, Phases: db.CountByPhase}
	var cp *controlPlane
	if cfg.Controller {
		cp, err = newControlPlane(cfg, db, m)
		if err != nil {
			db.Close()
			return nil, err
		}
		apiCfg.ControlPlane = cp.ops()
		apiCfg.Ready = map[string]func(context.Context) error{"docker": cp.engine.Ping}
		sources.QueueDepth = cp.ctrl.QueueDepth
	}
	m.Watch(sources)
	api := httpapi.New(apiCfg)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		if cp != nil {
			cp.close()
		}
		db.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{
		Handler: api.Handler(),
		// No ReadTimeout or WriteTimeout: they would cut watch streams.
		// Bodies are bounded by size in the API.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelWarn),
	}
	// Shutdown waits for handlers; watch streams end only when told.
	srv.RegisterOnShutdown(api.Close)
	var prof *profiler
	if cfg.PprofListen != "" {
		if prof, err = newProfiler(cfg.PprofListen, log.With("component", "pprof")); err != nil {
			ln.Close()
			if cp != nil {
				cp.close()
			}
			db.Close()
			return nil, err
		}
	}
	return &Server{cfg: cfg, log: log, db: db, api: api, cp: cp, http: srv, ln: ln, prof: prof}, nil
}

// Addr is where the API listens (useful with port 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// StoreKind is "postgres" or "sqlite".
func (s *Server) StoreKind() string { return s.db.Kind() }

// Run serves and campaigns for leadership until ctx ends, then shuts
// down: stop accepting, end watch streams, let requests in flight finish
// within ShutdownTimeout (then cut them), stop the leader's work and
// release leadership, close the store. It returns nil after a clean
// shutdown. Call it once.
func (s *Server) Run(ctx context.Context) error {
	serveErr := make(chan error, 1)
	go func() { serveErr <- s.http.Serve(s.ln) }()
	if s.prof != nil {
		pctx, stopProf := context.WithCancel(context.WithoutCancel(ctx))
		defer stopProf()
		go s.prof.run(pctx)
	}
	// The control plane stops on its own context, after the HTTP server
	// has drained, so that requests in flight still see a leader.
	cpCtx, stopCP := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCP()
	cpDone := make(chan error, 1)
	if s.cp != nil {
		go func() { cpDone <- s.cp.run(cpCtx) }()
	} else {
		close(cpDone)
	}

	var err error
	select {
	case <-ctx.Done():
		s.log.Info("shutting down", "cause", context.Cause(ctx))
	case err = <-serveErr:
		err = fmt.Errorf("serve: %w", err)
		s.log.Error("server failed; shutting down", "err", err)
	}

	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if serr := s.http.Shutdown(sctx); serr != nil {
		s.log.Warn("requests still running at the shutdown deadline; closing them", "err", serr)
		s.http.Close()
	}
	if err == nil {
		if serr := <-serveErr; !errors.Is(serr, http.ErrServerClosed) {
			err = fmt.Errorf("serve: %w", serr)
		}
	}
	s.api.Close()
	// Stop leader work (reconciles in flight finish) and release the lock,
	// so that a standby takes over within one retry period.
	stopCP()
	if cerr := <-cpDone; cerr != nil {
		err = errors.Join(err, fmt.Errorf("leader election: %w", cerr))
	}
	if s.cp != nil {
		s.cp.close()
	}
	if cerr := s.db.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close store: %w", cerr))
	}
	return err
}
