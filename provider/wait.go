package provider

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/internal/client"
)

// waitConfig tunes how the provider waits for a lab. Zero fields take
// their defaults; tests shorten them.
type waitConfig struct {
	// PollMin and PollMax bound the polling backoff used when the watch
	// stream is unavailable (and between watch attempts that failed).
	PollMin, PollMax time.Duration
	// Resync is the longest one watch connection is trusted without news:
	// then the lab is read again and a new watch opened, so a stream that
	// silently stalled costs at most this long.
	Resync time.Duration
	// MaxWatchFailures is how many watch attempts in a row may fail before
	// the wait polls for good.
	MaxWatchFailures int
}

func (c waitConfig) withDefaults() waitConfig {
	c.PollMin = cmp.Or(c.PollMin, 500*time.Millisecond)
	c.PollMax = max(cmp.Or(c.PollMax, 5*time.Second), c.PollMin)
	c.Resync = cmp.Or(c.Resync, time.Minute)
	c.MaxWatchFailures = cmp.Or(c.MaxWatchFailures, 3)
	return c
}

// goal judges the latest state of the lab (nil: the lab is gone): done
// ends the wait successfully, an error ends it with that error.
type goal func(l *api.LabInstanceRequest) (done bool, err error)

// phaseError is a lab that ended up somewhere the wait cannot get past.
type phaseError struct {
	key     api.Key
	phase   api.Phase
	want    api.Phase
	message string
}

func (e *phaseError) Error() string {
	var b strings.Builder
	if e.phase == api.PhaseFailed {
		fmt.Fprintf(&b, "lab %s FAILED", e.key)
	} else {
		fmt.Fprintf(&b, "lab %s reached %s before it was seen %s", e.key, e.phase, e.want)
	}
	if e.message != "" {
		fmt.Fprintf(&b, ": %q", e.message)
	} else {
		b.WriteString(" (the backend gave no error_message)")
	}
	return b.String()
}

// untilPhase is the goal of wait_for: PENDING is reached as soon as the
// backend holds the lab; RUNNING when it runs. FAILED, and a lab that has
// already finished (TIMEOUT, COMPLETED) when RUNNING was wanted, are
// errors quoting the backend's error_message.
func untilPhase(key api.Key, want api.Phase) goal {
	return func(l *api.LabInstanceRequest) (bool, error) {
		if l == nil {
			return false, fmt.Errorf("lab %s was deleted while waiting for it to be %s", key, want)
		}
		if want == api.PhasePending {
			return true, nil
		}
		switch p := l.Status.Phase; p {
		case want:
			return true, nil
		case api.PhaseFailed, api.PhaseTimeout, api.PhaseCompleted:
			return false, &phaseError{key: key, phase: p, want: want, message: l.Status.ErrorMessage}
		}
		if l.Metadata.DeletionTimestamp != nil {
			return false, fmt.Errorf("lab %s is being deleted; it will not become %s", key, want)
		}
		return false, nil
	}
}

// untilGone is the goal of Delete.
func untilGone(l *api.LabInstanceRequest) (bool, error) { return l == nil, nil }

// waiter follows one lab until a goal decides.
type waiter struct {
	c       *client.Client
	cfg     waitConfig
	key     api.Key
	goal    goal
	what    string        // "to be RUNNING", "to be deleted": for messages
	timeout time.Duration // for the timeout message

	last   *api.LabInstanceRequest // latest state seen; nil when gone
	gone   bool
	rv     int64  // watch from here
	queued string // the capacity-queue message last logged
}

// awaitLab returns the lab's state once g is done, g's error, or a timeout
// error naming the last phase seen when ctx ends. cur is the state already
// known (nil: read it first). It follows the watch stream (name-filtered)
// and falls back to polling with backoff when the server answers 410 twice
// in a row, does not offer watches, or the stream keeps failing.
func awaitLab(ctx context.Context, c *client.Client, cfg waitConfig, key api.Key, cur *api.LabInstanceRequest, timeout time.Duration, what string, g goal) (*api.LabInstanceRequest, error) {
	w := &waiter{c: c, cfg: cfg.withDefaults(), key: key, goal: g, what: what, timeout: timeout, last: cur}
	if cur != nil {
		w.rv = cur.Metadata.ResourceVersion
	}
	return w.run(ctx)
}

func (w *waiter) run(ctx context.Context) (*api.LabInstanceRequest, error) {
	if w.last == nil {
		if err := w.refresh(ctx); err != nil {
			return w.last, err
		}
	}
	useWatch, watchFails, gones, polls := true, 0, 0, 0
	for {
		w.report(ctx)
		if done, err := w.judge(); done || err != nil {
			return w.last, err
		}
		if ctx.Err() != nil {
			return w.last, w.ctxError(ctx)
		}
		if useWatch {
			progressed, err := w.watch(ctx)
			if done, gerr := w.judge(); done || gerr != nil {
				return w.last, gerr
			}
			switch {
			case ctx.Err() != nil:
				return w.last, w.ctxError(ctx)
			case api.ErrorCode(err) == api.EGONE:
				// Our position fell out of the server's change log: relist
				// (below) and watch again from the collection's current
				// position; a second 410 in a row means watching does not
				// work here, so poll.
				gones++
				if gones >= 2 {
					tflog.Debug(ctx, "watch keeps answering 410; polling instead", map[string]any{"lab": w.key.String()})
					useWatch = false
				} else if err := w.relistPosition(ctx); err != nil && ctx.Err() != nil {
					return w.last, w.ctxError(ctx)
				}
			case err != nil && watchUnsupported(err):
				tflog.Debug(ctx, "server offers no watch; polling", map[string]any{"lab": w.key.String(), "error": err.Error()})
				useWatch = false
			case err != nil || !progressed:
				watchFails++
				gones = 0
				if watchFails >= w.cfg.MaxWatchFailures {
					tflog.Debug(ctx, "watch keeps failing; polling instead", map[string]any{"lab": w.key.String(), "error": fmt.Sprint(err)})
					useWatch = false
				}
				if err := w.pause(ctx, &polls); err != nil {
					return w.last, w.ctxError(ctx)
				}
			default:
				watchFails, gones, polls = 0, 0, 0
			}
		} else if err := w.pause(ctx, &polls); err != nil {
			return w.last, w.ctxError(ctx)
		}
		// Level-based: whatever the stream said, read the lab itself.
		if err := w.refresh(ctx); err != nil {
			if ctx.Err() != nil {
				return w.last, w.ctxError(ctx)
			}
			return w.last, err
		}
	}
}

func (w *waiter) judge() (bool, error) {
	if w.gone {
		return w.goal(nil)
	}
	return w.goal(w.last)
}

// refresh reads the lab. Transient errors (the client has already retried
// them) leave the last state in place; permanent ones end the wait.
func (w *waiter) refresh(ctx context.Context) error {
	l, err := w.c.Get(ctx, w.key)
	switch {
	case err == nil:
		w.last, w.gone = l, false
		w.rv = max(w.rv, l.Metadata.ResourceVersion)
		return nil
	case api.IsNotFound(err):
		w.last, w.gone = nil, true
		return nil
	case ctx.Err() != nil:
		return w.ctxError(ctx)
	}
	switch api.ErrorCode(err) {
	case api.EUNAVAILABLE, api.EINTERNAL, api.ECONFLICT:
		tflog.Debug(ctx, "reading lab failed; will retry", map[string]any{"lab": w.key.String(), "error": err.Error()})
		return nil
	}
	return fmt.Errorf("read lab %s: %w", w.key, err)
}

// relistPosition finds the collection's current position after a 410. It
// is read BEFORE the lab itself (by the refresh that follows), so a change
// between the two reads is streamed again rather than missed.
func (w *waiter) relistPosition(ctx context.Context) error {
	list, err := w.c.List(ctx, client.ListOptions{Namespace: w.key.Namespace, Limit: 1})
	if err != nil {
		return err
	}
	w.rv = list.Metadata.ResourceVersion
	return nil
}

// watch follows the stream from w.rv until the goal decides, the stream
// ends, Resync passes or an error occurs. progressed reports whether the
// stream delivered anything, so that a server closing every stream at once
// is not re-watched in a hot loop.
func (w *waiter) watch(ctx context.Context) (progressed bool, err error) {
	wctx, cancel := context.WithTimeout(ctx, w.cfg.Resync)
	defer cancel()
	st, err := w.c.Watch(wctx, client.WatchOptions{Namespace: w.key.Namespace, Name: w.key.Name, ResourceVersion: w.rv})
	if err != nil {
		return false, err
	}
	defer st.Close()
	opened := time.Now()
	for {
		ev, err := st.Next()
		if err != nil {
			if errors.Is(err, io.EOF) || (wctx.Err() != nil && ctx.Err() == nil) {
				// The server ended the stream, or Resync passed: normal.
				return progressed || time.Since(opened) > w.cfg.PollMax, nil
			}
			return progressed, err
		}
		progressed = true
		if ev.Object != nil {
			w.rv = max(w.rv, ev.Object.Metadata.ResourceVersion)
		}
		switch ev.Type {
		case api.WatchBookmark:
			continue
		case api.WatchDeleted:
			w.last, w.gone = nil, true
		default:
			w.last, w.gone = ev.Object, false
		}
		tflog.Trace(ctx, "watch event", map[string]any{"lab": w.key.String(), "type": ev.Type, "phase": w.phase()})
		w.report(ctx)
		if done, gerr := w.judge(); done || gerr != nil {
			return true, nil
		}
	}
}

// queueCondition is the Scheduled=False condition of a lab waiting in
// labd's capacity queue, or nil.
func queueCondition(l *api.LabInstanceRequest) *api.Condition {
	if l == nil || l.Status.Phase != api.PhasePending {
		return nil
	}
	c := l.Condition(api.ConditionScheduled)
	if c == nil || c.Status != api.ConditionFalse || c.Reason != api.ReasonInsufficientCapacity {
		return nil
	}
	return c
}

// report logs, at info level, a lab queued for capacity and its place in
// the queue, each time labd's message about it changes: Terraform shows
// "Still creating..." meanwhile, and TF_LOG=INFO says why.
func (w *waiter) report(ctx context.Context) {
	c := queueCondition(w.last)
	if c == nil || c.Message == w.queued {
		return
	}
	w.queued = c.Message
	fields := map[string]any{"lab": w.key.String(), "message": c.Message}
	if pos, n, ok := api.QueuePosition(c.Message); ok {
		fields["position"], fields["queued"] = pos, n
	}
	tflog.Info(ctx, "lab queued for capacity", fields)
}

// watchUnsupported: answers that mean this server has no (such) watch.
func watchUnsupported(err error) bool {
	switch api.ErrorCode(err) {
	case api.EBADREQUEST, api.ENOTFOUND, api.ENOTACCEPTABLE, api.EUNSUPPORTED:
		return true
	}
	return false
}

// pause sleeps the n-th polling backoff (exponential with jitter, capped).
func (w *waiter) pause(ctx context.Context, n *int) error {
	d := client.RetryPolicy{MinBackoff: w.cfg.PollMin, MaxBackoff: w.cfg.PollMax}.Backoff(*n)
	*n++
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (w *waiter) phase() string {
	switch {
	case w.gone:
		return "gone (404)"
	case w.last == nil:
		return "unknown"
	}
	return string(w.last.Status.Phase)
}

// ctxError explains an ended wait: a timeout names the last phase seen and
// why the lab is held there, if the backend said.
func (w *waiter) ctxError(ctx context.Context) error {
	var b strings.Builder
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		fmt.Fprintf(&b, "timed out after %s waiting for lab %s %s", w.timeout, w.key, w.what)
	} else {
		fmt.Fprintf(&b, "interrupted while waiting for lab %s %s", w.key, w.what)
	}
	fmt.Fprintf(&b, "; last phase seen: %s", w.phase())
	if queueCondition(w.last) != nil {
		b.WriteString(", queued for capacity")
	}
	if l := w.last; l != nil {
		for _, t := range []string{api.ConditionScheduled, api.ConditionReady} {
			if c := l.Condition(t); c != nil && c.Status != api.ConditionTrue && (c.Reason != "" || c.Message != "") {
				fmt.Fprintf(&b, " (%s=%s %s: %s)", c.Type, c.Status, c.Reason, c.Message)
				break
			}
		}
		if len(l.Metadata.Finalizers) > 0 && l.Metadata.DeletionTimestamp != nil {
			fmt.Fprintf(&b, "; finalizers still pending: %s", strings.Join(l.Metadata.Finalizers, ", "))
		}
	}
	if queueCondition(w.last) != nil {
		b.WriteString(". labd's GET /api/status/capacity shows the queue and what is reserved; " +
			"end or delete labs to free capacity, ask for smaller resource_requests, or raise timeouts.create")
	}
	return errors.New(b.String())
}
