// Command labd serves the lab.labrm.io/v1 API: LabInstanceRequest
// resources stored in PostgreSQL or an embedded SQLite file, and (in later
// parts) the controller that runs their Docker containers.
//
// Configuration comes from flags and environment variables (see config.go
// and `labd --help`). labd stops gracefully on SIGINT and SIGTERM.
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
)

// version is stamped at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	var ce configError
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
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

// Run is labd's whole life: read the configuration, build the parts, serve
// until ctx ends, shut down. It returns nil after a clean shutdown.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return configError{err}
	}
	if cfg.ShowVersion {
		fmt.Fprintf(stdout, "labd %s\n", version)
		return nil
	}
	log := newLogger(cfg, stderr)
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		log.Error("start failed", "err", err)
		return err
	}
	return a.run(ctx)
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h).With("instance_id", cfg.InstanceID)
}
