package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/server/httpapi"
)

const (
	flagToken = "flag-token-0123456789abcdef"
	envToken  = "env-token-0123456789abcdef"
	otherTok  = "b3RoZXItdG9rZW4tMDEyMzQ1Njc4OQ=="
)

// tokenFile writes content to a fresh file and returns its path.
func tokenFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func wantRole(t *testing.T, ts *httpapi.Tokens, secret string, want httpapi.Role) {
	t.Helper()
	if ts == nil {
		t.Fatal("no tokens loaded")
	}
	if role, ok := ts.Authenticate(secret); !ok || role != want {
		t.Fatalf("token %q: role %v %v, want %v", secret, role, ok, want)
	}
}

// TestAuthConfig checks where tokens come from and how they are read.
func TestAuthConfig(t *testing.T) {
	t.Parallel()
	// Without tokens: open, on loopback only.
	cfg, err := parseConfig(nil, env(nil), io.Discard)
	if err != nil || cfg.APITokens != nil || cfg.MetricsAuth || cfg.InsecureNoAuth {
		t.Fatalf("defaults: %v %+v", err, cfg)
	}

	// The file format: comments, blank lines, prefixes, a bare token is
	// read-write, a comment may follow a token.
	file := tokenFile(t, "# terraform\n\nrw:"+flagToken+"\n  ro:"+envToken+"   # grafana\r\n"+otherTok+"\n")
	cfg, err = parseConfig([]string{"--api-token-file=" + file, "--listen=0.0.0.0:8000"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	wantRole(t, cfg.APITokens, flagToken, httpapi.ReadWrite)
	wantRole(t, cfg.APITokens, envToken, httpapi.ReadOnly)
	wantRole(t, cfg.APITokens, otherTok, httpapi.ReadWrite)
	if rw, ro := cfg.APITokens.Count(); rw != 2 || ro != 1 {
		t.Fatalf("count %d %d", rw, ro)
	}

	// Inline tokens, comma or space separated; with the file, both count.
	cfg, err = parseConfig(nil, env(map[string]string{"LAB_API_TOKENS": " ro:" + envToken + ", " + flagToken + " ", "LAB_LISTEN": ":8000"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	wantRole(t, cfg.APITokens, envToken, httpapi.ReadOnly)
	wantRole(t, cfg.APITokens, flagToken, httpapi.ReadWrite)
	cfg, err = parseConfig(nil, env(map[string]string{"LAB_API_TOKENS": "ro:" + envToken, "LAB_API_TOKEN_FILE": tokenFile(t, flagToken)}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	wantRole(t, cfg.APITokens, envToken, httpapi.ReadOnly)
	wantRole(t, cfg.APITokens, flagToken, httpapi.ReadWrite)

	// Metrics auth and the escape hatch are plain booleans.
	cfg, err = parseConfig([]string{"--metrics-auth", "--insecure-no-auth=true", "--listen=:8000"}, env(nil), io.Discard)
	if err != nil || !cfg.MetricsAuth || !cfg.InsecureNoAuth || cfg.APITokens != nil {
		t.Fatalf("booleans: %v %+v", err, cfg)
	}
}

// TestAuthConfigRejects checks that bad token files and an open public
// listen address stop labd before it starts, with errors that say where
// and never quote a token.
func TestAuthConfigRejects(t *testing.T) {
	t.Parallel()
	short := "abc123"
	dir := t.TempDir()
	cases := []struct {
		name    string
		args    []string
		environ map[string]string
		want    []string
	}{
		{"empty file", []string{"--api-token-file=" + tokenFile(t, "")}, nil, []string{"has no tokens"}},
		{"comments only", []string{"--api-token-file=" + tokenFile(t, "# nothing\n\n")}, nil, []string{"has no tokens"}},
		{"short token", []string{"--api-token-file=" + tokenFile(t, flagToken+"\nro:"+short+"\n")}, nil, []string{"line 2", "shorter than 16"}},
		{"duplicate", []string{"--api-token-file=" + tokenFile(t, "rw:"+flagToken+"\nro:"+flagToken+"\n")}, nil, []string{"line 2", "same token as", "line 1"}},
		{"duplicate across", []string{"--api-token-file=" + tokenFile(t, flagToken)}, map[string]string{"LAB_API_TOKENS": "ro:" + flagToken}, []string{"$LAB_API_TOKENS entry 1", "same token as", "line 1"}},
		{"unknown role", []string{"--api-token-file=" + tokenFile(t, "admin:"+flagToken)}, nil, []string{"line 1", "rw:", "ro:"}},
		{"two on a line", []string{"--api-token-file=" + tokenFile(t, flagToken+" "+envToken)}, nil, []string{"line 1", "one token a line"}},
		{"bad characters", []string{"--api-token-file=" + tokenFile(t, `"`+flagToken+`"`)}, nil, []string{"line 1", "characters"}},
		{"missing file", []string{"--api-token-file=" + filepath.Join(dir, "nope")}, nil, []string{"api token file", "no such file"}},
		{"directory", nil, map[string]string{"LAB_API_TOKEN_FILE": dir}, []string{"is a directory"}},
		{"inline empty", nil, map[string]string{"LAB_API_TOKENS": " , "}, []string{"$LAB_API_TOKENS has no tokens"}},
		{"inline short", nil, map[string]string{"LAB_API_TOKENS": flagToken + "," + short}, []string{"$LAB_API_TOKENS entry 2", "shorter"}},
		{"metrics-auth", []string{"--metrics-auth=sometimes"}, nil, []string{"--metrics-auth", "true or false"}},
		{"insecure", nil, map[string]string{"LAB_INSECURE_NO_AUTH": "yes please"}, []string{"$LAB_INSECURE_NO_AUTH", "true or false"}},
	}
	// Any address that is not loopback is refused without tokens.
	for _, listen := range []string{"0.0.0.0:8000", ":8000", "[::]:8000", "192.0.2.10:8000", "labs.example.edu:8000"} {
		cases = append(cases, struct {
			name    string
			args    []string
			environ map[string]string
			want    []string
		}{"open " + listen, []string{"--listen=" + listen}, nil, []string{"refusing to listen on " + listen, "without API tokens", "--insecure-no-auth", "--api-token-file"}})
	}
	for _, tc := range cases {
		_, err := parseConfig(tc.args, env(tc.environ), io.Discard)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tc.name, err, w)
			}
		}
		for _, secret := range []string{flagToken, envToken, short} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error %q quotes a token", tc.name, err)
			}
		}
	}
}

// TestAuthListen checks which addresses labd serves without tokens.
func TestAuthListen(t *testing.T) {
	t.Parallel()
	for _, listen := range []string{"127.0.0.1:8000", "127.0.0.2:0", "[::1]:8000", "localhost:8000", "LOCALHOST:1"} {
		if _, err := parseConfig([]string{"--listen=" + listen}, env(nil), io.Discard); err != nil {
			t.Errorf("loopback %s refused: %v", listen, err)
		}
	}
	for _, tc := range []struct {
		args    []string
		environ map[string]string
	}{
		{[]string{"--listen=0.0.0.0:8000", "--insecure-no-auth"}, nil},
		{nil, map[string]string{"LAB_LISTEN": ":8000", "LAB_INSECURE_NO_AUTH": "true"}},
		{nil, map[string]string{"LAB_LISTEN": ":8000", "LAB_API_TOKENS": flagToken}},
		{[]string{"--listen=[::]:8000", "--api-token-file=" + tokenFile(t, flagToken)}, nil},
	} {
		if _, err := parseConfig(tc.args, env(tc.environ), io.Discard); err != nil {
			t.Errorf("%v %v refused: %v", tc.args, tc.environ, err)
		}
	}
	// A flag beats the environment: --insecure-no-auth=false wins.
	_, err := parseConfig([]string{"--insecure-no-auth=false"}, env(map[string]string{"LAB_LISTEN": ":8000", "LAB_INSECURE_NO_AUTH": "true"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("--insecure-no-auth=false over the environment: %v", err)
	}
	// --version works whatever the listen address, as in the container
	// image, whose default is 0.0.0.0:8000.
	var out strings.Builder
	if err := Run(t.Context(), []string{"--version"}, env(map[string]string{"LAB_LISTEN": "0.0.0.0:8000"}), &out, io.Discard); err != nil || out.String() != "labd "+version+"\n" {
		t.Fatalf("--version with a public address: %q %v", out.String(), err)
	}
	// Run reports the refusal as a usage error (exit status 2).
	var ce configError
	if err := Run(t.Context(), []string{"--listen=:8000"}, env(nil), io.Discard, io.Discard); !errors.As(err, &ce) {
		t.Fatalf("open public address: %v, want a configError", err)
	}
}

// TestAuthStartLog checks what labd says at start about access control.
func TestAuthStartLog(t *testing.T) {
	t.Parallel()
	logLines := func(cfg Config, addr string) []map[string]any {
		var b strings.Builder
		tcp, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		logAuth(slog.New(slog.NewJSONHandler(&b, nil)), cfg, tcp)
		var recs []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			recs = append(recs, rec)
		}
		return recs
	}
	recs := logLines(Config{}, "127.0.0.1:8000")
	if len(recs) != 1 || recs[0]["level"] != "WARN" || recs[0]["listen"] != "127.0.0.1:8000" || !strings.Contains(recs[0]["msg"].(string), "loopback only") {
		t.Fatalf("no tokens on loopback: %v", recs)
	}
	recs = logLines(Config{InsecureNoAuth: true}, "0.0.0.0:8000")
	if len(recs) != 1 || recs[0]["level"] != "WARN" || recs[0]["listen"] != "0.0.0.0:8000" || !strings.Contains(recs[0]["msg"].(string), "open to anyone") {
		t.Fatalf("--insecure-no-auth: %v", recs)
	}
	file := tokenFile(t, "rw:"+flagToken+"\nro:"+envToken+"\n")
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig([]string{"--api-token-file=" + file, "--metrics-auth"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	recs = logLines(cfg, "0.0.0.0:8000")
	if len(recs) != 2 || recs[0]["level"] != "INFO" || recs[0]["read_write_tokens"] != 1.0 || recs[0]["read_only_tokens"] != 1.0 || recs[0]["metrics_auth"] != true ||
		recs[1]["level"] != "WARN" || !strings.Contains(recs[1]["msg"].(string), "readable by every user") {
		t.Fatalf("with tokens: %v", recs)
	}
}

// TestAuthReload runs the labd binary with a token file, and replaces the
// tokens with SIGHUP: the new ones work at once, the old ones no longer,
// and a broken file leaves the tokens as they were. No token reaches the
// logs.
func TestAuthReload(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "labd")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	file := filepath.Join(dir, "tokens")
	if err := os.WriteFile(file, []byte("rw:"+flagToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, "--controller=false", "--log-format=json", "--log-level=debug")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LAB_LISTEN=127.0.0.1:0", "LAB_DATABASE_URL=sqlite:"+filepath.Join(dir, "labd.db"),
		"LAB_API_TOKEN_FILE="+file, "LAB_API_TOKENS=ro:"+envToken)
	logs, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	// Log lines arrive on a channel, so that each wait is bounded.
	lines := make(chan map[string]any, 100)
	var seen strings.Builder
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(logs)
		for sc.Scan() {
			seen.WriteString(sc.Text() + "\n")
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) == nil {
				lines <- rec
			}
		}
	}()
	waitLog := func(msg string) map[string]any {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case rec, ok := <-lines:
				if !ok {
					t.Fatalf("labd exited before logging %q", msg)
				}
				if m, _ := rec["msg"].(string); strings.Contains(m, msg) {
					return rec
				}
			case <-deadline:
				t.Fatalf("no %q log line within 30s", msg)
			}
		}
	}
	addr, _ := waitLog("labd started")["listen"].(string)
	if rec := waitLog("API tokens required"); rec["read_write_tokens"] != 1.0 || rec["read_only_tokens"] != 1.0 {
		t.Fatalf("start line %v", rec)
	}
	status := func(method, token string) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, "http://"+addr+"/api/lab-instances/", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status("GET", ""); got != 401 {
		t.Fatalf("no token: %d", got)
	}
	if got := status("GET", flagToken); got != 200 {
		t.Fatalf("file token: %d", got)
	}
	if got := status("POST", envToken); got != 403 {
		t.Fatalf("inline read-only token on a write: %d", got)
	}

	// Replace the file's token; the inline one stays.
	if err := os.WriteFile(file, []byte("ro:"+otherTok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if rec := waitLog("API tokens reloaded"); rec["read_write_tokens"] != 0.0 || rec["read_only_tokens"] != 2.0 {
		t.Fatalf("reload line %v", rec)
	}
	for token, want := range map[string]int{flagToken: 401, otherTok: 200, envToken: 200} {
		if got := status("GET", token); got != want {
			t.Errorf("after reload, GET with %s: %d, want %d", token[:4], got, want)
		}
	}
	// A broken file is refused; the tokens stay as they were.
	if err := os.WriteFile(file, []byte("ro:short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if rec := waitLog("API tokens not reloaded"); rec["level"] != "ERROR" || !strings.Contains(rec["err"].(string), "line 1") {
		t.Fatalf("bad reload line %v", rec)
	}
	if got := status("GET", otherTok); got != 200 {
		t.Fatalf("after a failed reload: %d", got)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLog("labd stopped")
	for range lines { // drain until the pipe closes
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("labd: %v\n%s", err, seen.String())
	}
	for _, secret := range []string{flagToken, envToken, otherTok, "ro:short"} {
		if strings.Contains(seen.String(), secret) {
			t.Fatalf("a token appears in the logs:\n%s", seen.String())
		}
	}
}
