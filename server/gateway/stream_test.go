package gateway_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/docker/docker/api/types/container"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/servertest"
)

// TestWebSocketEcho: a WebSocket upgrade goes through the gateway, with
// the cookie or with the access link (an upgrade is not redirected), and
// messages echo both ways.
func TestWebSocketEcho(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	a := e.running("ws", nil)
	tok := e.token(a.Key())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(e.url(a.Key(), "/ws"), "http")
	for name, dial := range map[string]func() (*websocket.Conn, *http.Response, error){
		"cookie": func() (*websocket.Conn, *http.Response, error) {
			return websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{"Cookie": {cookie(tok)}}})
		},
		"access link": func() (*websocket.Conn, *http.Response, error) {
			return websocket.Dial(ctx, wsURL+"?token="+tok, nil)
		},
	} {
		c, resp, err := dial()
		if err != nil {
			t.Fatalf("%s: dial: %v (%v)", name, err, resp)
		}
		c.SetReadLimit(16 << 20)
		for i, msg := range []string{"hello", strings.Repeat("x", 100000), "bye"} {
			typ := websocket.MessageText
			if i == 1 {
				typ = websocket.MessageBinary
			}
			if err := c.Write(ctx, typ, []byte(msg)); err != nil {
				t.Fatalf("%s: write: %v", name, err)
			}
			gotTyp, got, err := c.Read(ctx)
			if err != nil || gotTyp != typ || string(got) != msg {
				t.Fatalf("%s: echo %d: type %v, %d bytes, %v", name, i, gotTyp, len(got), err)
			}
		}
		c.Close(websocket.StatusNormalClosure, "")
	}
	// Without a token the upgrade is refused like any request.
	if _, resp, err := websocket.Dial(ctx, wsURL, nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("upgrade without a token: %v, %v", resp, err)
	}
}

// TestStreamsArriveIncrementally: server-sent events and a chunked body
// reach the client as the app writes them, not when it is done; a request
// body streams to the app while its answer streams back.
func TestStreamsArriveIncrementally(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	a := e.running("streams", func(l *api.LabInstanceRequest) { l.Spec.Environment = api.StringMap{"TICK": "400ms"} })
	tok := e.token(a.Key())
	for _, path := range []string{"/sse?n=3", "/chunked?n=3"} {
		req, _ := http.NewRequest("GET", e.url(a.Key(), path), nil)
		req.Header.Set("Cookie", cookie(tok))
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if path == "/sse?n=3" && resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("%s: content type %q", path, resp.Header.Get("Content-Type"))
		}
		r := bufio.NewReader(resp.Body)
		var at []time.Duration
		for {
			line, err := r.ReadString('\n')
			if strings.HasPrefix(line, "data: ") || strings.HasPrefix(line, "chunk ") {
				at = append(at, time.Since(start))
			}
			if err != nil {
				break
			}
		}
		resp.Body.Close()
		// Parts come 400 ms apart: the first long before the last.
		if len(at) != 3 || at[0] > 300*time.Millisecond || at[2]-at[0] < 600*time.Millisecond {
			t.Fatalf("%s: parts arrived at %v; want 3, the first at once, then every 400ms", path, at)
		}
	}

	// Both ways: the first echo arrives before the rest of the body is sent.
	pr, pw := io.Pipe()
	defer pw.Close() // a failed test must not leave the request open
	req, _ := http.NewRequest("POST", e.url(a.Key(), "/echo"), pr)
	req.Header.Set("Cookie", cookie(tok))
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() { resp, err := http.DefaultClient.Do(req); done <- result{resp, err} }()
	if _, err := pw.Write([]byte("ping-1\n")); err != nil {
		t.Fatal(err)
	}
	var res result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no answer while the request body is still open")
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	r := bufio.NewReader(res.resp.Body)
	if line, err := r.ReadString('\n'); err != nil || line != "ping-1\n" {
		t.Fatalf("first echo %q, %v", line, err)
	}
	pw.Write([]byte("ping-2\n"))
	if line, err := r.ReadString('\n'); err != nil || line != "ping-2\n" {
		t.Fatalf("second echo %q, %v", line, err)
	}
	pw.Close()
	res.resp.Body.Close()
}

// TestAppDownAndBatchLab: a running lab whose app stopped answering gets
// the 502 page, which refreshes; a lab without a port (a batch lab) runs
// and says it has no web app.
func TestAppDownAndBatchLab(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	a := e.running("down", func(l *api.LabInstanceRequest) {
		l.Spec.LabTemplate = e.busybox
		l.Spec.Command = []string{"/bin/sh", "-c", "httpd -f -p 8080 -h /www & sleep 3600"}
	})
	tok := e.token(a.Key())
	if resp, body := do(t, "GET", e.url(a.Key(), "/"), "Cookie", cookie(tok)); resp.StatusCode != http.StatusOK || !strings.Contains(body, "labrm test lab is up") {
		t.Fatalf("app up: %d %s", resp.StatusCode, body)
	}
	// The app goes away; its container stays.
	ctx := context.Background()
	ex, err := e.rt.Client().ContainerExecCreate(ctx, a.Status.ContainerID, container.ExecOptions{Cmd: []string{"killall", "httpd"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.rt.Client().ContainerExecStart(ctx, ex.ID, container.ExecStartOptions{}); err != nil {
		t.Fatal(err)
	}
	var resp *http.Response
	var body string
	servertest.Eventually(t, "the 502 page", 10*time.Second, func() bool {
		resp, body = do(t, "GET", e.url(a.Key(), "/"), "Cookie", cookie(tok))
		return resp.StatusCode == http.StatusBadGateway
	})
	if !strings.Contains(body, "not answering") || !strings.Contains(body, `http-equiv="refresh"`) || !strings.Contains(body, "RUNNING") {
		t.Fatalf("app down: %d %s", resp.StatusCode, body)
	}

	batch := e.running("batch", func(l *api.LabInstanceRequest) {
		l.Spec.Port = 0 // the test app image exposes none
		l.Spec.Environment = api.StringMap{"EXIT_AFTER": "1h"}
	})
	if batch.Status.Endpoint != "" || batch.Status.AccessURL != "" {
		t.Fatalf("a batch lab has endpoint %q, access_url %q", batch.Status.Endpoint, batch.Status.AccessURL)
	}
	if tr := batch.Status.Transitions[len(batch.Status.Transitions)-1]; tr.Reason != "ContainerStarted" {
		t.Fatalf("batch lab RUNNING by %s", tr.Reason)
	}
	resp, body = do(t, "GET", e.url(batch.Key(), "/?token="+e.token(batch.Key())))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("batch lab access link: %d", resp.StatusCode)
	}
	resp, body = do(t, "GET", e.url(batch.Key(), "/"), "Cookie", cookie(e.token(batch.Key())))
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "no web app") {
		t.Fatalf("batch lab: %d %s", resp.StatusCode, body)
	}
}
