package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strconv"
	"sync"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// WatchOptions selects the changes a watch streams.
type WatchOptions struct {
	Namespace string // "" means every namespace
	// Name limits the watch to one lab (with Namespace). The filter is sent
	// to the server and also applied here, so a server that ignores it
	// costs bandwidth, not correctness.
	Name string
	// ResourceVersion: stream the changes after this position, from a
	// list's or an object's metadata.resource_version. A position older
	// than the server still keeps is answered 410 (api.EGONE): relist.
	ResourceVersion int64
	Phase           api.Phase
	StudentEmail    string
	LabelSelector   map[string]string
}

// ErrorEvent is the type of an in-stream error line, as Kubernetes sends
// one; its object is a problem document. Next returns it as an *api.Error.
const ErrorEvent = "ERROR"

// maxWatchLine bounds one NDJSON line (one object, below the 1 MiB body cap).
const maxWatchLine = 4 << 20

// Watcher is an open watch stream. Close it when done.
type Watcher struct {
	body   io.ReadCloser
	sc     *bufio.Scanner
	cancel context.CancelFunc
	opts   WatchOptions
	once   sync.Once
}

// Watch opens a stream of changes (GET /api/lab-instances/?watch=true).
// Opening is retried like any GET; a 410 is returned as api.EGONE at once.
// Events arrive through Next or Events until the server ends the stream
// (io.EOF), ctx ends, or Close is called.
func (c *Client) Watch(ctx context.Context, opts WatchOptions) (*Watcher, error) {
	q := ListOptions{Namespace: opts.Namespace, Phase: opts.Phase, StudentEmail: opts.StudentEmail, LabelSelector: opts.LabelSelector}.Query()
	q.Set("watch", "true")
	if opts.Name != "" {
		q.Set("name", opts.Name)
	}
	if opts.ResourceVersion != 0 {
		q.Set("resource_version", strconv.FormatInt(opts.ResourceVersion, 10))
	}
	res, err := c.do(ctx, request{method: http.MethodGet, path: collection, query: q, idempotent: true, stream: true,
		accept: "application/json"})
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(res.resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxWatchLine)
	return &Watcher{body: res.resp.Body, sc: sc, cancel: res.cancel, opts: opts}, nil
}

// Next returns the next event of the stream, skipping events of other labs
// when the watch names one. It returns io.EOF when the server ended the
// stream, an *api.Error for an in-stream ERROR event (EGONE: relist), and
// the context's error once the watch's context is done.
func (w *Watcher) Next() (api.WatchEvent, error) {
	for w.sc.Scan() {
		line := w.sc.Bytes()
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			continue // keep-alive
		}
		var raw struct {
			Type   string          `json:"type"`
			Object json.RawMessage `json:"object"`
		}
		if err := json.Unmarshal(line, &raw); err != nil {
			return api.WatchEvent{}, fmt.Errorf("decode watch event: %w", err)
		}
		if raw.Type == ErrorEvent {
			var p api.Problem
			_ = json.Unmarshal(raw.Object, &p)
			code := p.Code
			if !api.KnownCode(code) {
				code = api.CodeForStatus(p.Status)
			}
			return api.WatchEvent{}, &api.Error{Code: code, Message: p.Detail, Fields: p.Errors}
		}
		ev := api.WatchEvent{Type: raw.Type}
		if len(raw.Object) > 0 && string(raw.Object) != "null" {
			ev.Object = new(api.LabInstanceRequest)
			if err := json.Unmarshal(raw.Object, ev.Object); err != nil {
				return api.WatchEvent{}, fmt.Errorf("decode watch event object: %w", err)
			}
		}
		if ev.Type != api.WatchBookmark && !w.matches(ev.Object) {
			continue
		}
		return ev, nil
	}
	err := w.sc.Err()
	if err == nil {
		return api.WatchEvent{}, io.EOF
	}
	if errors.Is(err, bufio.ErrTooLong) {
		return api.WatchEvent{}, fmt.Errorf("watch event larger than %d bytes", maxWatchLine)
	}
	return api.WatchEvent{}, fmt.Errorf("read watch stream: %w", err)
}

func (w *Watcher) matches(l *api.LabInstanceRequest) bool {
	if l == nil {
		return false
	}
	if w.opts.Namespace != "" && l.Metadata.Namespace != w.opts.Namespace {
		return false
	}
	return w.opts.Name == "" || l.Metadata.Name == w.opts.Name
}

// Events iterates over the stream until it ends; a final non-nil error
// other than io.EOF is yielded once.
func (w *Watcher) Events() iter.Seq2[api.WatchEvent, error] {
	return func(yield func(api.WatchEvent, error) bool) {
		for {
			ev, err := w.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if !yield(ev, err) || err != nil {
				return
			}
		}
	}
}

// Close ends the stream; it is safe to call more than once and from
// another goroutine, which unblocks a pending Next.
func (w *Watcher) Close() error {
	w.once.Do(func() {
		w.cancel()
		w.body.Close()
	})
	return nil
}
