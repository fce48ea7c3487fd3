package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/internal/client"
	"github.com/labrm/terraform-provider-lab/server"
	"github.com/labrm/terraform-provider-lab/server/docker"
	"github.com/labrm/terraform-provider-lab/server/gateway"
	"github.com/labrm/terraform-provider-lab/server/httpapi"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

const (
	rwToken = "rw-e2e-token-0123456789abcdef"
	roToken = "ro-e2e-token-0123456789abcdef"
)

// labd runs one labd in-process until the test ends; its logs, at debug
// level, go to logs when given.
func labd(t *testing.T, cfg server.Config, logs io.Writer) *server.Server {
	t.Helper()
	if logs != nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	// Runs after the server stopped (cleanups run last first): its labs'
	// containers outlive it otherwise.
	t.Cleanup(func() { removeLabContainers(t, cfg.DatabaseURL) })
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("labd %s stopped with %v", cfg.InstanceID, err)
		}
	})
	return s
}

// removeLabContainers removes the containers of the installation whose
// store is at dbURL.
func removeLabContainers(t *testing.T, dbURL string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := store.Open(ctx, store.Config{URL: dbURL})
	if err != nil {
		t.Logf("remove lab containers: %v", err)
		return
	}
	id, err := db.InstallationID(ctx)
	db.Close()
	if err != nil {
		return
	}
	engine, err := docker.New(docker.Config{})
	if err != nil {
		return
	}
	defer engine.Close()
	all, _ := engine.List(ctx)
	for _, c := range all {
		if workload.Ours(c.Labels, id) {
			if err := engine.Remove(ctx, c.Name); err != nil {
				t.Logf("remove %s: %v", c.Name, err)
			}
		}
	}
}

// browser is an HTTP client with a cookie jar that follows redirects, as
// a student's browser does.
func browser(t *testing.T, tr http.RoundTripper) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Transport: tr, Timeout: 30 * time.Second}
}

func fetch(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func appLab(name, image string) *api.LabInstanceRequest {
	return &api.LabInstanceRequest{Metadata: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.Spec{LabTemplate: image, StudentEmail: "student@university.edu", DurationMinutes: 30, Port: 8080,
			ResourceLimits: &api.ResourceLimits{CPU: "250m", Memory: "64Mi"}}}
}

func waitRunning(t *testing.T, cl *client.Client, key api.Key) *api.LabInstanceRequest {
	t.Helper()
	var l *api.LabInstanceRequest
	servertest.Eventually(t, key.String()+" RUNNING", 90*time.Second, func() bool {
		var err error
		l, err = cl.Get(context.Background(), key)
		if err == nil && l.Status.Phase == api.PhaseFailed {
			t.Fatalf("%s failed: %s", key, l.Status.ErrorMessage)
		}
		return err == nil && l.Status.Phase == api.PhaseRunning
	})
	return l
}

// TestGatewayEndToEnd runs labd with its default settings on PostgreSQL
// and Docker, with API tokens: a teacher creates a lab and reads its
// access link (with a read-write token; a read-only one may not), a
// student opens it in a browser and uses the app, the teacher rotates the
// token and the old link and cookie stop working. The token never shows
// in a log line, a list, a watch stream, the lab's events or a
// CloudEvent.
func TestGatewayEndToEnd(t *testing.T) {
	t.Parallel()
	image := servertest.TestApp(t)
	var mu sync.Mutex
	var sunk strings.Builder
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		sunk.Write(b)
		mu.Unlock()
	}))
	defer sink.Close()
	tokens, err := httpapi.NewTokens([]httpapi.Token{{Secret: rwToken, Role: httpapi.ReadWrite}, {Secret: roToken, Role: httpapi.ReadOnly}})
	if err != nil {
		t.Fatal(err)
	}
	logs := &servertest.LogBuffer{}
	s := labd(t, server.Config{Listen: "127.0.0.1:0", DatabaseURL: servertest.PostgresURL(t), Controller: true,
		InstanceID: "e2e", APITokens: tokens, CloudEventsSinks: []string{sink.URL}}, logs)
	base := "http://" + s.Addr().String()
	ctx := context.Background()
	rw, _ := client.New(base, client.WithToken(rwToken))
	ro, _ := client.New(base, client.WithToken(roToken))
	servertest.Eventually(t, "the cloudevents bookmark", 30*time.Second, func() bool {
		bms, err := rw.Bookmarks(ctx)
		return err == nil && len(bms.Watchers) >= 2
	})

	// A watch stream from the start, as raw lines.
	wctx, stopWatch := context.WithCancel(ctx)
	req, _ := http.NewRequestWithContext(wctx, "GET", base+"/api/lab-instances/?watch=true", nil)
	req.Header.Set("Authorization", "Bearer "+roToken)
	wresp, err := http.DefaultClient.Do(req)
	if err != nil || wresp.StatusCode != http.StatusOK {
		t.Fatalf("watch: %v", err)
	}
	var watched strings.Builder
	var watchMu sync.Mutex
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		sc := bufio.NewScanner(wresp.Body)
		for sc.Scan() {
			watchMu.Lock()
			watched.WriteString(sc.Text() + "\n")
			watchMu.Unlock()
		}
	}()

	key := api.Key{Namespace: "default", Name: "e2e"}
	if _, err := rw.Create(ctx, appLab(key.Name, image)); err != nil {
		t.Fatal(err)
	}
	l := waitRunning(t, rw, key)
	wantURL := "http://localhost:" + portOf(s.Addr().String()) + "/labs/default/e2e/"
	if l.Status.AccessURL != wantURL || l.Status.Endpoint == "" {
		t.Fatalf("access_url %q (want %q), endpoint %q", l.Status.AccessURL, wantURL, l.Status.Endpoint)
	}
	if _, err := ro.Access(ctx, key); api.ErrorCode(err) != api.EFORBIDDEN {
		t.Fatalf("access with a read-only token: %v", err)
	}
	acc, err := rw.Access(ctx, key)
	if err != nil || acc.URL != wantURL || acc.Token == "" {
		t.Fatalf("access %+v, %v", acc, err)
	}

	// The student's browser: the link, then the cookie alone.
	student := browser(t, nil)
	if code, body := fetch(t, student, acc.URL+"?token="+acc.Token); code != http.StatusOK || !strings.Contains(body, "labrm test app") {
		t.Fatalf("access link: %d %s", code, body)
	}
	code, body := fetch(t, student, acc.URL+"headers")
	if code != http.StatusOK || strings.Contains(body, acc.Token) || strings.Contains(body, gateway.CookieName) {
		t.Fatalf("the app saw %d %s", code, body)
	}
	if code, _ := fetch(t, browser(t, nil), acc.URL); code != http.StatusUnauthorized {
		t.Fatalf("without the link: %d", code)
	}

	// Rotation: the old cookie and link stop working at once here.
	rotated, err := rw.RotateAccess(ctx, key)
	if err != nil || rotated.Token == acc.Token {
		t.Fatalf("rotate: %+v, %v", rotated, err)
	}
	if code, _ := fetch(t, student, acc.URL); code != http.StatusUnauthorized {
		t.Fatalf("old cookie after rotation: %d", code)
	}
	if code, _ := fetch(t, browser(t, nil), acc.URL+"?token="+acc.Token); code != http.StatusUnauthorized {
		t.Fatalf("old link after rotation: %d", code)
	}
	if code, _ := fetch(t, student, rotated.URL+"?token="+rotated.Token); code != http.StatusOK {
		t.Fatalf("new link: %d", code)
	}

	// Where the token never is.
	list, err := rw.List(ctx, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	events, err := rw.Events(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	rotatedEvent := false
	for _, ev := range events.Items {
		rotatedEvent = rotatedEvent || ev.Type == api.EventAccessRotated
	}
	if !rotatedEvent {
		t.Fatalf("no access.rotated event in %+v", events.Items)
	}
	out, err := rw.Logs(ctx, key, 100)
	if err != nil {
		t.Fatal(err)
	}
	servertest.Eventually(t, "the rotation's CloudEvent", 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(sunk.String(), api.EventAccessRotated)
	})
	// The watch follows the outbox, which may trail a GET (a transaction
	// still open elsewhere holds back what readers may see).
	servertest.Eventually(t, "RUNNING on the watch", 30*time.Second, func() bool {
		watchMu.Lock()
		defer watchMu.Unlock()
		return strings.Contains(watched.String(), `"RUNNING"`)
	})
	stopWatch()
	<-watchDone
	mu.Lock()
	ce := sunk.String()
	mu.Unlock()
	for what, text := range map[string]string{"logs": logs.String(), "list": asJSON(t, list), "events": asJSON(t, events),
		"watch": watched.String(), "CloudEvents": ce, "container output": out} {
		for _, tok := range []string{acc.Token, rotated.Token} {
			if strings.Contains(text, tok) {
				t.Fatalf("an access token is in the %s", what)
			}
		}
	}
}

func asJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func portOf(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }

// TestGatewayOnStandby: a replica that is not the leader serves labs as
// well as the leader does.
func TestGatewayOnStandby(t *testing.T) {
	t.Parallel()
	image := servertest.TestApp(t)
	dsn := servertest.PostgresURL(t)
	leader := labd(t, server.Config{Listen: "127.0.0.1:0", DatabaseURL: dsn, Controller: true, InstanceID: "leader"}, nil)
	lc, _ := client.New("http://" + leader.Addr().String())
	ctx := context.Background()
	servertest.Eventually(t, "a leader", 30*time.Second, func() bool {
		st, err := lc.Leader(ctx)
		return err == nil && st.IsLeader
	})
	standby := labd(t, server.Config{Listen: "127.0.0.1:0", DatabaseURL: dsn, Controller: true, InstanceID: "standby"}, nil)
	sc, _ := client.New("http://" + standby.Addr().String())
	if st, err := sc.Leader(ctx); err != nil || st.IsLeader || st.Leader != "leader" {
		t.Fatalf("standby's leader status %+v, %v", st, err)
	}
	key := api.Key{Namespace: "default", Name: "standby"}
	if _, err := lc.Create(ctx, appLab(key.Name, image)); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, lc, key)
	acc, err := sc.Access(ctx, key)
	if err != nil || !strings.HasPrefix(acc.URL, "http://localhost:"+portOf(standby.Addr().String())+"/labs/default/standby/") {
		t.Fatalf("standby's access %+v, %v", acc, err)
	}
	b := browser(t, nil)
	if code, body := fetch(t, b, "http://"+standby.Addr().String()+"/labs/default/standby/?token="+acc.Token); code != http.StatusOK || !strings.Contains(body, "labrm test app") {
		t.Fatalf("through the standby: %d %s", code, body)
	}
}

// TestHTTPS: with a certificate, the API and the gateway are served over
// HTTPS (a client trusting the test CA connects), access URLs say https,
// the gateway's cookie is Secure, and ReloadTLS (SIGHUP) puts a new
// certificate in use for new connections.
func TestHTTPS(t *testing.T) {
	t.Parallel()
	image := servertest.TestApp(t)
	dir := t.TempDir()
	ca := servertest.NewCA(t, "labd test CA")
	certFile, keyFile := ca.Issue(t, dir, "localhost", "127.0.0.1")
	s := labd(t, server.Config{Listen: "127.0.0.1:0", DatabaseURL: servertest.SQLiteURL(t), Controller: true,
		TLSCertFile: certFile, TLSKeyFile: keyFile}, nil)
	base := "https://localhost:" + portOf(s.Addr().String())
	trusting := func(ca *servertest.CA) *http.Transport {
		return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true}
	}
	cl, err := client.New(base, client.WithCAPEM(ca.PEM))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if h, err := cl.Health(ctx); err != nil || h.Status != "healthy" {
		t.Fatalf("health over HTTPS: %+v, %v", h, err)
	}
	if resp, err := http.Get("http://" + s.Addr().String() + "/api/status/health"); err == nil && resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("plain HTTP on the TLS listener: %d, want 400 (Go's answer to HTTP on an HTTPS server)", resp.StatusCode)
	}
	key := api.Key{Namespace: "default", Name: "tls"}
	if _, err := cl.Create(ctx, appLab(key.Name, image)); err != nil {
		t.Fatal(err)
	}
	l := waitRunning(t, cl, key)
	if l.Status.AccessURL != base+"/labs/default/tls/" {
		t.Fatalf("access_url %q", l.Status.AccessURL)
	}
	acc, err := cl.Access(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	noFollow := &http.Client{Transport: trusting(ca), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(acc.URL + "?token=" + acc.Token)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c := resp.Cookies(); resp.StatusCode != http.StatusSeeOther || len(c) != 1 || !c[0].Secure || !c[0].HttpOnly {
		t.Fatalf("access link over HTTPS: %d %v", resp.StatusCode, resp.Header.Values("Set-Cookie"))
	}
	if code, body := fetch(t, browser(t, trusting(ca)), acc.URL+"?token="+acc.Token); code != http.StatusOK || !strings.Contains(body, "labrm test app") {
		t.Fatalf("the lab over HTTPS: %d %s", code, body)
	}

	// A new certificate, of another CA: in use after the reload.
	other := servertest.NewCA(t, "labd test CA 2")
	other.Issue(t, dir, "localhost", "127.0.0.1")
	if err := s.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	if code, _ := fetch(t, &http.Client{Transport: trusting(other)}, base+"/api/status/health"); code != http.StatusOK {
		t.Fatalf("new certificate: %d", code)
	}
	if _, err := (&http.Client{Transport: trusting(ca)}).Get(base + "/api/status/health"); err == nil {
		t.Fatal("the old certificate is still served after the reload")
	}
}
