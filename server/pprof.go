package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// profiler serves Go's runtime profiles (net/http/pprof) on an address of
// their own, never on the API's: profiles and goroutine dumps show
// internals, so they are off unless Config.PprofListen names an address,
// and cmd/labd makes a bare port loopback.
type profiler struct {
	srv *http.Server
	ln  net.Listener
	log *slog.Logger
}

func newProfiler(addr string, log *slog.Logger) (*profiler, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &profiler{ln: ln, log: log, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}, nil
}

// run serves until ctx ends.
func (p *profiler) run(ctx context.Context) {
	p.log.Info("serving profiles", "addr", p.ln.Addr().String(), "path", "/debug/pprof/")
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		p.srv.Shutdown(sctx)
	}()
	if err := p.srv.Serve(p.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		p.log.Warn("pprof server stopped", "err", err)
	}
}

// PprofAddr is where profiles are served, nil when they are off.
func (s *Server) PprofAddr() net.Addr {
	if s.prof == nil {
		return nil
	}
	return s.prof.ln.Addr()
}
