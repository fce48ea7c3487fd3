package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/labrm/terraform-provider-lab/server"
)

// Config is labd's configuration, read from flags and the environment:
// the server's, and what only the command uses (logging, where the tokens
// come from, the safety check on an open listen address).
type Config struct {
	server.Config // Logger and Version are set by Run, not by settings

	LogFormat   string // text or json
	LogLevel    slog.Level
	ShowVersion bool

	// Access control (settings_auth.go); the tokens themselves are
	// server.Config.APITokens, from APITokenFile and $LAB_API_TOKENS.
	APITokenFile    string
	InsecureNoAuth  bool
	apiTokensInline string // $LAB_API_TOKENS, kept for reloads
}

// setting is one configuration value: its flag, its environment variable,
// its default and how to apply it. The list below is the single source of
// the README's configuration table.
type setting struct {
	Flag    string
	Env     string // "" when only the flag exists
	Default string // as documented; "" means empty
	Usage   string
	apply   func(c *Config, v string) error
	// dynamicDefault computes the default at run time (the host name).
	dynamicDefault func() (string, error)
	// repeatable flags may be given several times; their values reach
	// apply joined with commas, the form the environment variable takes.
	repeatable bool
}

var settings = slices.Concat(coreSettings, runtimeSettings, controllerSettings, gatewaySettings, authSettings, eventSettings, securitySettings, perfSettings)

var coreSettings = []setting{
	{
		Flag: "database-url", Env: "LAB_DATABASE_URL", Default: "",
		Usage: `store: "" = embedded SQLite file labd.db, sqlite:PATH = that SQLite file, postgres://... = PostgreSQL (required for several replicas)`,
		apply: func(c *Config, v string) error {
			if err := checkDatabaseURL(v); err != nil {
				return err
			}
			c.DatabaseURL = v
			return nil
		},
	},
	{
		Flag: "instance-id", Env: "LAB_INSTANCE_ID", Default: "the host name",
		Usage: "identity of this replica in leader election and logs",
		apply: func(c *Config, v string) error {
			if strings.TrimSpace(v) == "" || len(v) > 253 || strings.ContainsAny(v, " \t\r\n") {
				return fmt.Errorf("must be 1 to 253 characters without white space")
			}
			c.InstanceID = v
			return nil
		},
		dynamicDefault: os.Hostname,
	},
	{
		Flag: "listen", Env: "LAB_LISTEN", Default: "127.0.0.1:8000",
		Usage: "HTTP listen address, host:port (0.0.0.0:8000 for every interface, which needs API tokens or --insecure-no-auth)",
		apply: func(c *Config, v string) error {
			if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
				return fmt.Errorf("must be host:port, like 127.0.0.1:8000 or :8000")
			}
			c.Listen = v
			return nil
		},
	},
	{
		Flag: "docker-host", Env: "DOCKER_HOST", Default: "",
		Usage: `Docker daemon address for lab containers, like unix:///var/run/docker.sock ("" = Docker's default)`,
		apply: func(c *Config, v string) error {
			if v != "" {
				u, err := url.Parse(v)
				if err != nil || u.Scheme == "" {
					return fmt.Errorf("must be a URL like unix:///var/run/docker.sock or tcp://host:2375")
				}
			}
			c.DockerHost = v
			return nil
		},
	},
	{
		Flag: "log-format", Env: "LAB_LOG_FORMAT", Default: "text",
		Usage: "log format: text or json",
		apply: func(c *Config, v string) error {
			if v != "text" && v != "json" {
				return fmt.Errorf("must be text or json")
			}
			c.LogFormat = v
			return nil
		},
	},
	{
		Flag: "log-level", Env: "LAB_LOG_LEVEL", Default: "info",
		Usage: "log level: debug, info, warn or error",
		apply: func(c *Config, v string) error {
			if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
				return fmt.Errorf("must be debug, info, warn or error")
			}
			return nil
		},
	},
	{
		Flag: "shutdown-timeout", Env: "LAB_SHUTDOWN_TIMEOUT", Default: "30s",
		Usage: "how long a shutdown waits for requests in flight",
		apply: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return fmt.Errorf("must be a positive duration like 30s")
			}
			c.ShutdownTimeout = d
			return nil
		},
	},
}

// checkDatabaseURL accepts the URL forms the store opens, and says which
// are wrong before anything is opened.
func checkDatabaseURL(v string) error {
	switch {
	case v == "",
		strings.HasPrefix(v, "sqlite:") && len(v) > len("sqlite:"),
		strings.HasPrefix(v, "file:") && len(v) > len("file:"):
		return nil
	case strings.HasPrefix(v, "postgres://"), strings.HasPrefix(v, "postgresql://"):
		u, err := url.Parse(v)
		if err != nil || u.Host == "" {
			return fmt.Errorf("is not a valid PostgreSQL URL (postgres://user:password@host:5432/db)")
		}
		return nil
	}
	return fmt.Errorf(`must be empty (embedded SQLite), sqlite:PATH or postgres://user:password@host:5432/db`)
}

// boolFlag is a boolean setting's flag, which may be given without a value;
// its value is checked by the setting, as any other.
type boolFlag struct{ s string }

func (v *boolFlag) String() string     { return v.s }
func (v *boolFlag) Set(s string) error { v.s = s; return nil }
func (v *boolFlag) IsBoolFlag() bool   { return true }

// listFlag collects a repeatable flag's values.
type listFlag struct{ s string }

func (v *listFlag) String() string { return v.s }
func (v *listFlag) Set(s string) error {
	if v.s != "" {
		s = v.s + "," + s
	}
	v.s = s
	return nil
}

// parseConfig reads the configuration: a flag beats its environment
// variable, which beats the default. Errors name the flag and the variable
// so that either can be fixed.
func parseConfig(args []string, getenv func(string) string, output io.Writer) (Config, error) {
	fs := flag.NewFlagSet("labd", flag.ContinueOnError)
	fs.SetOutput(output)
	values := make([]*string, len(settings))
	for i, s := range settings {
		usage := s.Usage
		if s.Env != "" {
			usage += " [$" + s.Env + "]"
		}
		if s.Default != "" {
			usage += " (default " + s.Default + ")"
		}
		if s.repeatable {
			v := &listFlag{}
			fs.Var(v, s.Flag, usage+" (repeatable)")
			values[i] = &v.s
		} else if s.Default == "true" || s.Default == "false" {
			// A boolean flag: --insecure-no-auth alone means true.
			v := &boolFlag{}
			fs.Var(v, s.Flag, usage)
			values[i] = &v.s
		} else {
			values[i] = fs.String(s.Flag, "", usage)
		}
	}
	var cfg Config
	fs.BoolVar(&cfg.ShowVersion, "version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: labd [flags]\n\nlabd serves the lab.labrm.io/v1 API and runs lab containers.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q (labd takes flags only)", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var errs []error
	for i, s := range settings {
		v, from := s.Default, "default"
		if s.dynamicDefault != nil {
			d, err := s.dynamicDefault()
			if err != nil {
				d = "labd"
			}
			v = d
		}
		if e := getenv(s.Env); s.Env != "" && e != "" {
			v, from = e, "$"+s.Env
		}
		if set[s.Flag] {
			v, from = *values[i], "--"+s.Flag
		}
		if err := s.apply(&cfg, v); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", from, v, err))
		}
	}
	if !cfg.ShowVersion {
		// Tokens and the listen address are checked together.
		errs = append(errs, finishAuth(&cfg, getenv), finishGateway(&cfg))
	}
	return cfg, errors.Join(errs...)
}
