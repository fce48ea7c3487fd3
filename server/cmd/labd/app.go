package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labrm/terraform-provider-lab/server/httpapi"
	"github.com/labrm/terraform-provider-lab/server/metrics"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// app is a labd process's parts, built from Config and wired by hand. The
// reconciler and leader election join here: built in newApp, started in
// run, stopped before the store closes.
type app struct {
	cfg  Config
	log  *slog.Logger
	db   *store.DB
	api  *httpapi.Server
	cp   *controlPlane // nil with --controller=false
	srv  *http.Server
	ln   net.Listener
	done chan struct{} // closed when run returns
}

// newApp opens the store (applying migrations) and the listener. Nothing
// is served until run.
func newApp(ctx context.Context, cfg Config, log *slog.Logger) (*app, error) {
	m := metrics.New()
	db, err := store.Open(ctx, store.Config{URL: cfg.DatabaseURL, Logger: log.With("component", "store"), OnConflict: m.Conflict})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	apiCfg := httpapi.Config{
		Store:          db,
		Notify:         db,
		Logger:         log.With("component", "http"),
		Version:        version,
		Metrics:        m,
		MetricsHandler: m.Handler(),
		Tokens:         cfg.APITokens,
		MetricsAuth:    cfg.MetricsAuth,
	}
	sources := metrics.Sources{Bookmarks: db.Bookmarks, Phases: db.CountByPhase}
	var cp *controlPlane
	if cfg.Controller {
		cp, err = newControlPlane(cfg, db, log, m)
		if err != nil {
			db.Close()
			return nil, err
		}
		apiCfg.ControlPlane = cp
		apiCfg.Ready = map[string]func(context.Context) error{"docker": cp.rt.Ping}
		sources.QueueDepth = cp.QueueDepth
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
	return &app{cfg: cfg, log: log, db: db, api: api, cp: cp, srv: srv, ln: ln, done: make(chan struct{})}, nil
}

// addr is where the API listens (useful with port 0).
func (a *app) addr() net.Addr { return a.ln.Addr() }

// run serves and campaigns for leadership until ctx ends, then shuts
// down: stop accepting, end watch streams, let requests in flight finish
// within ShutdownTimeout (then cut them), stop the leader's work and
// release leadership, close the store.
func (a *app) run(ctx context.Context) error {
	defer close(a.done)
	a.log.Info("labd started", "version", version, "listen", a.ln.Addr().String(),
		"store", a.db.Kind(), "docker_host", a.cfg.DockerHost)
	logAuth(a.log, a.cfg, a.ln.Addr())
	defer a.handleSIGHUP(ctx)()
	serveErr := make(chan error, 1)
	go func() { serveErr <- a.srv.Serve(a.ln) }()
	// The control plane stops on its own context, after the HTTP server
	// has drained, so that requests in flight still see a leader.
	cpCtx, stopCP := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCP()
	cpDone := make(chan error, 1)
	if a.cp != nil {
		go func() { cpDone <- a.cp.run(cpCtx) }()
	} else {
		close(cpDone)
	}

	var err error
	select {
	case <-ctx.Done():
		a.log.Info("shutting down", "cause", context.Cause(ctx))
	case err = <-serveErr:
		err = fmt.Errorf("serve: %w", err)
		a.log.Error("server failed; shutting down", "err", err)
	}

	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	if serr := a.srv.Shutdown(sctx); serr != nil {
		a.log.Warn("requests still running at the shutdown deadline; closing them", "err", serr)
		a.srv.Close()
	}
	if err == nil {
		if serr := <-serveErr; !errors.Is(serr, http.ErrServerClosed) {
			err = fmt.Errorf("serve: %w", serr)
		}
	}
	a.api.Close()
	// Stop leader work (reconciles in flight finish) and release the lock,
	// so that a standby takes over within one retry period.
	stopCP()
	if cerr := <-cpDone; cerr != nil {
		err = errors.Join(err, fmt.Errorf("leader election: %w", cerr))
	}
	if a.cp != nil {
		a.cp.close()
	}
	if cerr := a.db.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close store: %w", cerr))
	}
	a.log.Info("labd stopped")
	return err
}
