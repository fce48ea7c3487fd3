// Command labd serves the lab.labrm.io/v1 API and runs the controller
// that turns each LabInstanceRequest into a running workload. It reads
// its settings from flags and the environment (config.go, `labd --help`)
// and hands them to package server; it stops gracefully on SIGINT and
// SIGTERM and reloads its API tokens and TLS certificate on SIGHUP.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server"
)

// version is stamped at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	var ce configError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, &ce):
		fmt.Fprintf(os.Stderr, "labd: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "labd: %v\n", err)
		os.Exit(1)
	}
}

// configError marks bad flags or environment: exit status 2, as for any
// usage error.
type configError struct{ error }

func (e configError) Unwrap() error { return e.error }

// Run is labd's whole life: read the configuration, build the server,
// serve until ctx ends, shut down. It returns nil after a clean shutdown.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return err
	case err != nil:
		return configError{err}
	case cfg.ShowVersion:
		fmt.Fprintf(stdout, "labd %s\n", version)
		return nil
	}
	log := newLogger(cfg, stderr)
	cfg.Logger, cfg.Version = log, version
	s, err := server.New(ctx, cfg.Config)
	if err != nil {
		log.Error("start failed", "err", err)
		if _, ok := errors.AsType[*server.ConfigError](err); ok {
			return configError{err}
		}
		return err
	}
	defer handleSIGHUP(ctx, cfg, log, s)()
	engine := []any{"runtime", cfg.Runtime, "docker_host", cfg.DockerHost}
	if cfg.Runtime == server.RuntimeKubernetes {
		engine = []any{"runtime", cfg.Runtime, "kubeconfig", cfg.Kubernetes.Kubeconfig, "kubernetes_namespace", cfg.Kubernetes.Namespace}
	}
	log.Info("labd started", append(engine, "version", version, "listen", s.Addr().String(), "store", s.StoreKind(),
		"tls", s.TLS(), "example_access_url", s.AccessURL(api.Key{Namespace: "default", Name: "example"}))...)
	if a := s.GatewayAddr(); a != nil {
		log.Info("gateway listening", "gateway_listen", a.String())
	}
	logAuth(log, cfg, s.Addr())
	err = s.Run(ctx)
	log.Info("labd stopped")
	return err
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h).With("instance_id", cfg.InstanceID)
}
