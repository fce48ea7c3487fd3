// Command testapp is the lab app of labd's gateway tests, built into the
// local image labrm/testapp:test by scripts/testenv.sh (a static binary
// imported with `docker import`: no image is pulled). The image exposes no
// port: a lab running it names its port, or is a batch lab.
//
//	GET  /            a page saying "labrm test app"
//	GET  /headers     the request as the app saw it, as JSON
//	GET  /healthz     200, or 503 until -ready-after has passed
//	GET  /ws          WebSocket echo
//	GET  /sse?n=N     N server-sent events, one every -tick
//	GET  /chunked?n=N N chunks of a chunked body, one every -tick
//	POST /echo        the request body back, as it streams in
//	GET  /redirect    302 to /headers
//	GET  /cookie      sets a cookie with Path=/
//
// Flags (or environment): -listen (PORT: ":"+PORT), -delay (DELAY: wait
// before listening), -ready-after (READY_AFTER), -tick (TICK), -exit-after
// (EXIT_AFTER: print a line and exit 0, a batch job).
package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/coder/websocket"
)

func main() {
	listen := flag.String("listen", ":"+cmp.Or(os.Getenv("PORT"), "8080"), "listen address")
	delay := flag.Duration("delay", envDuration("DELAY"), "wait this long before listening")
	readyAfter := flag.Duration("ready-after", envDuration("READY_AFTER"), "/healthz answers 503 until this long after start")
	tick := flag.Duration("tick", cmp.Or(envDuration("TICK"), 300*time.Millisecond), "interval of /sse and /chunked")
	exitAfter := flag.Duration("exit-after", envDuration("EXIT_AFTER"), "exit 0 after this long, without serving")
	flag.Parse()
	start := time.Now()
	log.SetFlags(0)
	log.Printf("testapp: started")
	if *exitAfter > 0 {
		time.Sleep(*exitAfter)
		log.Printf("testapp: batch job done")
		return
	}
	time.Sleep(*delay)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>labrm test app</title><p id=app>labrm test app</p>")
	})
	mux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"method": r.Method, "host": r.Host, "path": r.URL.Path, "raw_path": r.URL.RawPath,
			"query": r.URL.RawQuery, "remote": r.RemoteAddr, "headers": r.Header,
		})
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if time.Since(start) < *readyAfter {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(16 << 20)
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("GET /sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		stream(w, r, *tick, func(i int) string { return fmt.Sprintf("id: %d\ndata: event %d\n\n", i, i) })
	})
	mux.HandleFunc("GET /chunked", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		stream(w, r, *tick, func(i int) string { return fmt.Sprintf("chunk %d\n", i) })
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		// Answer while the body still streams in (HTTP/1 servers read the
		// whole body before a response otherwise).
		http.NewResponseController(w).EnableFullDuplex()
		w.Header().Set("Content-Type", "application/octet-stream")
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Body.Read(buf)
			if n > 0 {
				w.Write(buf[:n])
				http.NewResponseController(w).Flush()
			}
			if err != nil {
				return
			}
		}
	})
	mux.HandleFunc("GET /redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/headers", http.StatusFound)
	})
	mux.HandleFunc("GET /cookie", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "app", Value: "1", Path: "/"})
		fmt.Fprintln(w, "cookie set")
	})
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("testapp: listening on %s", *listen)
	log.Fatal(srv.ListenAndServe())
}

// stream writes n (?n=, default 3) parts, one every tick, flushing each.
func stream(w http.ResponseWriter, r *http.Request, tick time.Duration, part func(int) string) {
	n, err := strconv.Atoi(cmp.Or(r.URL.Query().Get("n"), "3"))
	if err != nil {
		n = 3
	}
	rc := http.NewResponseController(w)
	for i := range n {
		if i > 0 {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(tick):
			}
		}
		io.WriteString(w, part(i))
		rc.Flush()
	}
}

func envDuration(name string) time.Duration {
	d, _ := time.ParseDuration(os.Getenv(name))
	return d
}
