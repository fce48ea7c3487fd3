package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/labrm/terraform-provider-lab/server/httpapi"
)

// envAPITokens holds API tokens inline, in the token file's format with
// entries separated by commas or white space: "rw:TOKEN1,ro:TOKEN2". It has
// no flag on purpose: a flag's value shows in `ps` to every local user.
const envAPITokens = "LAB_API_TOKENS"

// maxTokenFile bounds the token file: a few thousand tokens at most.
const maxTokenFile = 1 << 20

// authSettings configure who may use the API (server/httpapi/auth.go).
//
// The token file has one token per line, "rw:" (read-write, the default
// without a prefix) or "ro:" (read-only: GET, lists and watches) before
// it; "#" starts a comment, blank lines are skipped:
//
//	# terraform, CI
//	rw:4f3c...e1
//	# grafana
//	ro:9ab0...77
//
// Tokens are at least 16 characters of letters, digits and -._~+/ (then =
// padding): `openssl rand -hex 32` makes one. Tokens from the file and
// from $LAB_API_TOKENS are used together; SIGHUP re-reads the file.
var authSettings = []setting{
	{
		Flag: "api-token-file", Env: "LAB_API_TOKEN_FILE", Default: "",
		Usage: `file of API bearer tokens, one a line as "rw:TOKEN" or "ro:TOKEN" (read-only), # comments; re-read on SIGHUP. Tokens may also be given inline in $` + envAPITokens + ` ("rw:T1,ro:T2"). With none, labd serves the API without authentication, on loopback addresses only`,
		apply: func(c *Config, v string) error {
			c.APITokenFile = v
			return nil
		},
	},
	boolSetting("metrics-auth", "LAB_METRICS_AUTH", "require an API token (either role) on /api/status/metrics, status, leader, bookmarks and finalizers too; health and ready are always open",
		func(c *Config) *bool { return &c.MetricsAuth }),
	boolSetting("insecure-no-auth", "LAB_INSECURE_NO_AUTH", "serve the API without tokens on a non-loopback address: anyone who reaches it can create and delete labs",
		func(c *Config) *bool { return &c.InsecureNoAuth }),
}

func boolSetting(flag, env, usage string, field func(*Config) *bool) setting {
	return setting{
		Flag: flag, Env: env, Default: "false", Usage: usage,
		apply: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("must be true or false")
			}
			*field(c) = b
			return nil
		},
	}
}

// finishAuth loads the API tokens, from the file and $LAB_API_TOKENS, once
// every setting is applied, and refuses a non-loopback listen address
// without them unless InsecureNoAuth. parseConfig calls it.
func finishAuth(c *Config, getenv func(string) string) error {
	inline := getenv(envAPITokens)
	tokens, err := loadTokens(c.APITokenFile, inline)
	if err != nil {
		return err
	}
	c.apiTokensInline = inline
	if len(tokens) > 0 {
		if c.APITokens, err = httpapi.NewTokens(tokens); err != nil {
			return fmt.Errorf("api tokens: %w", err)
		}
	}
	if c.APITokens == nil && !c.InsecureNoAuth && c.Listen != "" && !isLoopback(c.Listen) {
		return fmt.Errorf("refusing to listen on %s without API tokens: anyone who can reach it could create and delete labs. "+
			"Give tokens (--api-token-file, $LAB_API_TOKEN_FILE or $%s), listen on a loopback address like 127.0.0.1:8000, "+
			"or pass --insecure-no-auth ($LAB_INSECURE_NO_AUTH=true) to serve the API open anyway", c.Listen, envAPITokens)
	}
	return nil
}

// isLoopback reports whether listen (host:port) binds loopback addresses
// only. An empty host binds every interface; a host name other than
// localhost may resolve anywhere, so it counts as not loopback.
func isLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loadTokens reads the tokens of file (if not "") and inline (if not "").
// Errors say where (file and line, or entry of $LAB_API_TOKENS) and what,
// and never quote a token.
func loadTokens(file, inline string) ([]httpapi.Token, error) {
	var tokens []httpapi.Token
	where := map[string]string{} // token → where it was seen, for duplicates
	add := func(entry, loc string) error {
		tok, err := parseTokenEntry(entry)
		if err != nil {
			return fmt.Errorf("%s: %w", loc, err)
		}
		if prev, dup := where[tok.Secret]; dup {
			return fmt.Errorf("%s: the same token as %s", loc, prev)
		}
		where[tok.Secret] = loc
		tokens = append(tokens, tok)
		return nil
	}
	if file != "" {
		text, err := readTokenFile(file)
		if err != nil {
			return nil, err
		}
		n := len(tokens)
		for i, line := range strings.Split(text, "\n") {
			fields := strings.Fields(line)
			if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
				continue
			}
			loc := fmt.Sprintf("api token file %s, line %d", file, i+1)
			if len(fields) > 1 && !strings.HasPrefix(fields[1], "#") {
				return nil, fmt.Errorf("%s: one token a line, as rw:TOKEN or ro:TOKEN (a comment after it starts with #)", loc)
			}
			if err := add(fields[0], loc); err != nil {
				return nil, err
			}
		}
		if len(tokens) == n {
			return nil, fmt.Errorf("api token file %s has no tokens (one a line, as rw:TOKEN or ro:TOKEN)", file)
		}
	}
	if inline != "" {
		n := len(tokens)
		entries := strings.FieldsFunc(inline, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\r' || r == '\n' })
		for i, entry := range entries {
			if err := add(entry, fmt.Sprintf("$%s entry %d", envAPITokens, i+1)); err != nil {
				return nil, err
			}
		}
		if len(tokens) == n {
			return nil, fmt.Errorf("$%s has no tokens (rw:TOKEN1,ro:TOKEN2)", envAPITokens)
		}
	}
	return tokens, nil
}

// readTokenFile reads a token file, refusing what cannot be one.
func readTokenFile(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("api token file: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return "", fmt.Errorf("api token file %s is a directory", file)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("api token file: %w", err)
	}
	if len(b) > maxTokenFile {
		return "", fmt.Errorf("api token file %s is larger than %d bytes", file, maxTokenFile)
	}
	return string(b), nil
}

// parseTokenEntry parses "rw:TOKEN", "ro:TOKEN" or "TOKEN" (read-write).
func parseTokenEntry(entry string) (httpapi.Token, error) {
	tok := httpapi.Token{Secret: entry, Role: httpapi.ReadWrite}
	if prefix, secret, ok := strings.Cut(entry, ":"); ok {
		switch prefix {
		case "rw":
		case "ro":
			tok.Role = httpapi.ReadOnly
		default:
			// Not quoted: it may be part of a token.
			return tok, errors.New(`unknown role prefix before ":": it is rw: (read-write) or ro: (read-only), and tokens contain no ":"`)
		}
		tok.Secret = secret
	}
	if err := httpapi.CheckTokenSecret(tok.Secret); err != nil {
		return tok, err
	}
	return tok, nil
}

// logAuth says at start-up who may use the API, loudly when anyone may.
func logAuth(log *slog.Logger, cfg Config, addr net.Addr) {
	listen := addr.String()
	if cfg.APITokens == nil {
		if cfg.MetricsAuth {
			log.Warn("--metrics-auth has no effect without API tokens")
		}
		if isLoopback(listen) {
			log.Warn("no API tokens configured: the API is open to every local user; listening on loopback only",
				"listen", listen)
		} else {
			log.Warn("--insecure-no-auth: no API tokens, the API is open to anyone who can reach this address",
				"listen", listen)
		}
		return
	}
	rw, ro := cfg.APITokens.Count()
	log.Info("API tokens required on /api/lab-instances", "read_write_tokens", rw, "read_only_tokens", ro,
		"token_file", cfg.APITokenFile, "metrics_auth", cfg.MetricsAuth)
	if cfg.APITokenFile != "" {
		if st, err := os.Stat(cfg.APITokenFile); err == nil && st.Mode().Perm()&0o004 != 0 {
			log.Warn("the API token file is readable by every user; chmod o-r it", "token_file", cfg.APITokenFile)
		}
	}
}

// reloadTokens re-reads the token file (and the inline tokens given at
// start) into the running API, which shares cfg.APITokens. On error the
// old tokens stay.
func reloadTokens(cfg Config) error {
	if cfg.APITokens == nil || cfg.APITokenFile == "" {
		return errors.New("no --api-token-file to reload")
	}
	tokens, err := loadTokens(cfg.APITokenFile, cfg.apiTokensInline)
	if err != nil {
		return err
	}
	if err := cfg.APITokens.Set(tokens); err != nil {
		return fmt.Errorf("api tokens: %w", err)
	}
	return nil
}

// handleSIGHUP reloads, on every SIGHUP until ctx ends or stop is called,
// the API tokens (with a token file) and the TLS certificate (when labd
// serves TLS); without it SIGHUP would kill labd. A reload that fails
// keeps what was in use.
func handleSIGHUP(ctx context.Context, cfg Config, log *slog.Logger, tls tlsReloader) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reloaded := false
				if cfg.APITokenFile != "" {
					reloaded = true
					if err := reloadTokens(cfg); err != nil {
						log.Error("SIGHUP: API tokens not reloaded; the old ones stay", "err", err)
					} else {
						rw, ro := cfg.APITokens.Count()
						log.Info("SIGHUP: API tokens reloaded", "read_write_tokens", rw, "read_only_tokens", ro, "token_file", cfg.APITokenFile)
					}
				}
				if tls != nil && tls.TLS() {
					reloaded = true
					if err := tls.ReloadTLS(); err != nil {
						log.Error("SIGHUP: TLS certificate not reloaded; the old one stays", "err", err)
					} else {
						log.Info("SIGHUP: TLS certificate reloaded", "cert_file", cfg.TLSCertFile)
					}
				}
				if !reloaded {
					log.Info("SIGHUP: nothing to reload (no --api-token-file, no TLS)")
				}
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		cancel()
		<-done
	}
}

// tlsReloader is the server's TLS, as SIGHUP reloads it.
type tlsReloader interface {
	TLS() bool
	ReloadTLS() error
}
