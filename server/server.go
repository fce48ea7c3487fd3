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
	"strconv"
	"strings"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/gateway"
	"github.com/labrm/terraform-provider-lab/server/httpapi"
	"github.com/labrm/terraform-provider-lab/server/images"
	"github.com/labrm/terraform-provider-lab/server/lograte"
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
	// Runtime is the engine labs run on: RuntimeDocker (default), one
	// Docker engine, or RuntimeKubernetes, a cluster (Kubernetes).
	Runtime string
	// DockerHost is the Docker engine labs run on ("" = DOCKER_HOST or
	// Docker's default socket).
	DockerHost string
	// Kubernetes configures the kubernetes runtime.
	Kubernetes KubernetesConfig
	// ShutdownTimeout is how long Run waits for requests in flight once
	// its context ends (default 30s).
	ShutdownTimeout time.Duration

	// Controller runs the lab controller on this replica, when leader
	// election picks it; false serves the API only.
	Controller bool
	// AccessHost is the host students reach the gateway at, with a port
	// if it is not the gateway listener's (default localhost).
	AccessHost string
	// AccessScheme is the scheme of access URLs: "" means https when labd
	// serves TLS, else http (set https behind a TLS-terminating proxy).
	AccessScheme string
	// GatewayListen, when set, is a second listener that serves labs only
	// (the main listener serves them too).
	GatewayListen string
	// GatewayDomain, when set, also serves each lab by host name,
	// {name}--{namespace}.<domain>, and access URLs use it.
	GatewayDomain string
	// ActivityFlush is how often the gateway writes labs' last activity
	// (default 15s).
	ActivityFlush time.Duration

	// LabNetwork is the Docker network lab containers join, made with
	// traffic between containers off (default labd-labs).
	LabNetwork string
	// PublishPorts publishes each lab's app port on PublishIP, one host
	// address (default 127.0.0.1, never every interface), where the
	// gateway reaches it: for a Docker engine whose container addresses
	// labd cannot reach. Off, nothing is published.
	PublishPorts bool
	PublishIP    string

	// TLSCertFile and TLSKeyFile, when set, serve the API and the gateway
	// over HTTPS; ReloadTLS reads them again.
	TLSCertFile string
	TLSKeyFile  string
	// CapacityCPU (millicores) and CapacityMemory (bytes) are what labs
	// may reserve in total; 0 = the engine's (a Docker host's CPUs and
	// memory; a cluster's usable nodes' allocatable).
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

	// AllowedImages are the image patterns labs may use (package images);
	// empty allows any image.
	AllowedImages []string
	// LabRunAsUser is the numeric user id labs run as when their spec
	// names none (nil: the image's user); LabReadOnlyRootFilesystem makes
	// every lab's image file system read-only.
	LabRunAsUser              *int64
	LabReadOnlyRootFilesystem bool
	// PprofListen, when set, serves Go's /debug/pprof/ profiles on this
	// address (its own listener, without authentication: keep it on
	// loopback).
	PprofListen string

	// Version is reported by /api/status/health and in CloudEvents.
	Version string
	Logger  *slog.Logger
}

// KubernetesConfig configures the kubernetes runtime (server/kubernetes
// says what each does; zero values are its defaults).
type KubernetesConfig struct {
	// Kubeconfig is a kubeconfig file's path; "" is the in-cluster
	// configuration (labd in a pod, with its ServiceAccount's token).
	Kubeconfig string
	// Namespace holds the labs' pods, workspace claims and network policy
	// (default labs).
	Namespace string
	// StorageClass of workspace claims ("" = the cluster's default
	// class); WorkspaceSize is what each claim requests (default 1Gi).
	StorageClass  string
	WorkspaceSize string
	// NodeLostTimeout: a lab whose node has not been Ready this long
	// fails (default 1m).
	NodeLostTimeout time.Duration
	// NodeSelector ("key=value,...") and Tolerations
	// ("key=value:Effect,...") place labs on some nodes only; capacity
	// counts those alone.
	NodeSelector string
	Tolerations  string
	// ImagePullPolicy of lab containers: Always, IfNotPresent (default)
	// or Never.
	ImagePullPolicy string
}

// Defaults of Config.
const (
	DefaultListen          = "127.0.0.1:8000"
	DefaultShutdownTimeout = 30 * time.Second
	DefaultAccessHost      = "localhost"
	DefaultPublishIP       = "127.0.0.1"
)

func (c *Config) setDefaults() {
	host, _ := os.Hostname()
	c.InstanceID = cmp.Or(c.InstanceID, host, "labd")
	c.Listen = cmp.Or(c.Listen, DefaultListen)
	c.ShutdownTimeout = cmp.Or(c.ShutdownTimeout, DefaultShutdownTimeout)
	c.AccessHost = cmp.Or(c.AccessHost, DefaultAccessHost)
	c.PublishIP = cmp.Or(c.PublishIP, DefaultPublishIP)
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
	gw   *gateway.Gateway
	cp   *controlPlane // nil without Config.Controller
	cert *certificate  // nil without TLS
	prof *profiler     // nil without Config.PprofListen
	// The listeners and their servers: the API and gateway's, and the
	// gateway's own with Config.GatewayListen.
	http  *http.Server
	ln    net.Listener
	ghttp *http.Server
	gln   net.Listener
}

// New opens the store (applying migrations), builds the parts and binds
// the listeners. Nothing is served until Run; if New fails, whatever it
// opened is closed again.
func New(ctx context.Context, cfg Config) (_ *Server, err error) {
	cfg.setDefaults()
	// Parts that retry what fails would log every retry during an
	// outage; one line per cause per interval says as much (lograte).
	log := slog.New(lograte.New(cfg.Logger.Handler(), lograte.Config{}))
	cfg.Logger = log
	policy, err := images.ParsePolicy(cfg.AllowedImages)
	if err != nil {
		return nil, &ConfigError{err}
	}
	s := &Server{cfg: cfg, log: log}
	var closers []func()
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()
	if cfg.TLSCertFile != "" || cfg.TLSKeyFile != "" {
		if s.cert, err = loadCertificate(cfg.TLSCertFile, cfg.TLSKeyFile); err != nil {
			return nil, &ConfigError{err}
		}
	}
	// Listeners first: access URLs name the gateway's port.
	if s.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	closers = append(closers, func() { s.ln.Close() })
	if cfg.GatewayListen != "" {
		if s.gln, err = net.Listen("tcp", cfg.GatewayListen); err != nil {
			return nil, fmt.Errorf("gateway listen on %s: %w", cfg.GatewayListen, err)
		}
		closers = append(closers, func() { s.gln.Close() })
	}

	m := metrics.New()
	s.db, err = store.Open(ctx, store.Config{URL: cfg.DatabaseURL, Logger: log.With("component", "store"), OnConflict: m.Conflict})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	closers = append(closers, func() { s.db.Close() })
	s.gw = gateway.New(gateway.Config{
		Store: s.db, Scheme: s.accessScheme(), Host: s.accessHost(), Domain: cfg.GatewayDomain,
		IsAPIToken: func(tok string) bool {
			if cfg.APITokens == nil {
				return false
			}
			_, ok := cfg.APITokens.Authenticate(tok)
			return ok
		},
		FlushInterval: cfg.ActivityFlush, Logger: log.With("component", "gateway"),
	})
	apiCfg := httpapi.Config{
		Store:          s.db,
		Notify:         s.db,
		Logger:         log.With("component", "http"),
		Version:        cfg.Version,
		Metrics:        m,
		MetricsHandler: m.Handler(),
		Tokens:         cfg.APITokens,
		MetricsAuth:    cfg.MetricsAuth,
		Images:         policy,
		Access:         s.gw,
	}
	sources := metrics.Sources{Bookmarks: s.db.Bookmarks, Phases: s.db.CountByPhase}
	apiCfg.Capacity = capacity{db: s.db}
	if cfg.Controller {
		if s.cp, err = newControlPlane(ctx, cfg, s.db, m, policy, s.gw.URL); err != nil {
			return nil, err
		}
		closers = append(closers, s.cp.close)
		apiCfg.ControlPlane = s.cp.ops()
		apiCfg.Capacity = capacity{db: s.db, ctrl: s.cp.ctrl}
		apiCfg.Workspaces = workspaces{db: s.db, engine: s.cp.engine}
		apiCfg.Ready = map[string]func(context.Context) error{s.cp.engine.name: s.cp.engine.Ping}
		sources.QueueDepth = s.cp.ctrl.QueueDepth
	}
	m.Watch(sources)
	s.api = httpapi.New(apiCfg)
	// Labs are served on every replica, leader or not, in front of the API.
	s.http = s.httpServer(s.gw.Handler(s.api.Handler()))
	// Shutdown waits for handlers; watch streams end only when told.
	s.http.RegisterOnShutdown(s.api.Close)
	if s.gln != nil {
		s.ghttp = s.httpServer(s.gw)
	}
	if cfg.PprofListen != "" {
		if s.prof, err = newProfiler(cfg.PprofListen, log.With("component", "pprof")); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// httpServer is an HTTP server of h with labd's settings.
func (s *Server) httpServer(h http.Handler) *http.Server {
	srv := &http.Server{
		Handler: h,
		// No ReadTimeout or WriteTimeout: they would cut watch streams
		// and labs' WebSockets. Bodies are bounded by size in the API.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.With("component", "http").Handler(), slog.LevelWarn),
	}
	if s.cert != nil {
		srv.TLSConfig = s.cert.tlsConfig()
	}
	return srv
}

// accessScheme is the scheme of access URLs.
func (s *Server) accessScheme() string {
	if s.cfg.AccessScheme != "" {
		return s.cfg.AccessScheme
	}
	if s.cert != nil {
		return "https"
	}
	return "http"
}

// accessHost is AccessHost with the gateway listener's port when it names
// none, unless that is the scheme's default port.
func (s *Server) accessHost() string {
	host := s.cfg.AccessHost
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	ln := s.ln
	if s.gln != nil {
		ln = s.gln
	}
	port := ""
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		port = strconv.Itoa(a.Port)
	}
	if scheme := s.accessScheme(); port == "" || (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		return host
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), port)
}

// AccessURL is the URL students open to reach the lab.
func (s *Server) AccessURL(key api.Key) string { return s.gw.URL(key) }

// Addr is where the API listens (useful with port 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// GatewayAddr is where the gateway's own listener listens; nil without one.
func (s *Server) GatewayAddr() net.Addr {
	if s.gln == nil {
		return nil
	}
	return s.gln.Addr()
}

// StoreKind is "postgres" or "sqlite".
func (s *Server) StoreKind() string { return s.db.Kind() }

// Run serves and campaigns for leadership until ctx ends, then shuts
// down: stop accepting, end watch streams, let requests in flight finish
// within ShutdownTimeout (then cut them), stop the leader's work and
// release leadership, close the store. It returns nil after a clean
// shutdown. Call it once.
func (s *Server) Run(ctx context.Context) error {
	servers := []*http.Server{s.http}
	serveErr := make(chan error, 2)
	go func() { serveErr <- s.serve(s.http, s.ln) }()
	if s.ghttp != nil {
		servers = append(servers, s.ghttp)
		go func() { serveErr <- s.serve(s.ghttp, s.gln) }()
	}
	if s.prof != nil {
		pctx, stopProf := context.WithCancel(context.WithoutCancel(ctx))
		defer stopProf()
		go s.prof.run(pctx)
	}
	// The gateway's activity writer stops after the HTTP servers drained,
	// and writes what it saw once more.
	gwCtx, stopGW := context.WithCancel(context.WithoutCancel(ctx))
	defer stopGW()
	gwDone := make(chan error, 1)
	go func() { gwDone <- s.gw.Run(gwCtx) }()
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
	for _, srv := range servers {
		if serr := srv.Shutdown(sctx); serr != nil {
			s.log.Warn("requests still running at the shutdown deadline; closing them", "err", serr)
			srv.Close()
		}
	}
	// Each server's Serve has returned; the one that failed, if any, was
	// read above.
	pending := len(servers)
	if err != nil {
		pending--
	}
	for range pending {
		if serr := <-serveErr; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = fmt.Errorf("serve: %w", serr)
		}
	}
	s.api.Close()
	stopGW()
	<-gwDone
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

// serve serves srv on ln, over TLS when configured.
func (s *Server) serve(srv *http.Server, ln net.Listener) error {
	if s.cert != nil {
		return srv.ServeTLS(ln, "", "")
	}
	return srv.Serve(ln)
}
