package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

func TestWatchDecodes(t *testing.T) {
	t.Parallel()
	var query atomic.Value
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query.Store(r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(200)
		f := w.(http.Flusher)
		enc := json.NewEncoder(w)
		send := func(typ string, l *api.LabInstanceRequest) {
			_ = enc.Encode(api.WatchEvent{Type: typ, Object: l})
			f.Flush()
		}
		send(api.WatchAdded, lab("default", "x", 11, api.PhasePending))
		send(api.WatchModified, lab("default", "other", 12, api.PhasePending)) // filtered out
		send(api.WatchModified, lab("elsewhere", "x", 13, api.PhasePending))   // filtered out
		_, _ = io.WriteString(w, "\n")                                         // keep-alive
		send(api.WatchBookmark, &api.LabInstanceRequest{Metadata: api.ObjectMeta{ResourceVersion: 14}})
		send(api.WatchModified, lab("default", "x", 15, api.PhaseRunning))
		send(api.WatchDeleted, lab("default", "x", 16, api.PhaseRunning))
	}))
	w, err := c.Watch(t.Context(), WatchOptions{Namespace: "default", Name: "x", ResourceVersion: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var got []string
	for ev, err := range w.Events() {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s@%d", ev.Type, ev.Object.Metadata.ResourceVersion))
	}
	want := "[ADDED@11 BOOKMARK@14 MODIFIED@15 DELETED@16]"
	if fmt.Sprint(got) != want {
		t.Errorf("events %v, want %s", got, want)
	}
	if q := query.Load(); q != "name=x&namespace=default&resource_version=10&watch=true" {
		t.Errorf("query %q", q)
	}
	if _, err := w.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("Next after end: %v, want io.EOF", err)
	}
}

func TestWatchGone(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		problem(w, 410, "gone", "resource version 3 is older than the oldest kept (40): relist")
	}))
	_, err := c.Watch(t.Context(), WatchOptions{ResourceVersion: 3})
	if api.ErrorCode(err) != api.EGONE {
		t.Fatalf("err = %v, want EGONE", err)
	}
	if n.Load() != 1 {
		t.Errorf("%d attempts; a 410 must not be retried", n.Load())
	}
}

func TestWatchInStreamError(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		_, _ = io.WriteString(w, `{"type":"ERROR","object":{"status":410,"detail":"too old"}}`+"\n")
	}))
	w, err := c.Watch(t.Context(), WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Next(); api.ErrorCode(err) != api.EGONE {
		t.Errorf("Next = %v, want EGONE", err)
	}
}

// TestWatchCancel: a watch blocked on a silent server ends when its context
// does, and Close from another goroutine unblocks Next.
func TestWatchCancel(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	w, err := c.Watch(ctx, WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := w.Next(); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("Next = %v, want a context error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Next returned after %v", d)
	}
	w.Close()

	w2, err := c.Watch(t.Context(), WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, func() { w2.Close() })
	if _, err := w2.Next(); err == nil {
		t.Error("Next after Close: want error")
	}
}
