package eventsink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/internal/wait"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// Data is the data of every event: the lab as the change left it (for a
// deletion, its last state) and the message of controller events. It is an
// envelope rather than the bare object so that controller events keep
// their message and fields can be added without breaking consumers.
type Data struct {
	Object  *api.LabInstanceRequest `json:"object"`
	Message string                  `json:"message,omitempty"`
}

// Extension attributes sent with every event. CloudEvents integers are 32
// bits, so the int64 positions travel as decimal strings.
const (
	// ExtResourceVersion is the lab's metadata.resource_version after the
	// change: a consumer ignores an event older than one it has applied.
	ExtResourceVersion = "resourceversion"
	// ExtPosition is the outbox position (a watch can resume from it).
	ExtPosition = "position"
	// ExtLabUID is the lab's metadata.uid, which tells apart two labs that
	// had the same name one after the other.
	ExtLabUID = "labuid"
	// ExtPartitionKey (the CloudEvents partitioning extension) is the
	// subject: brokers that partition by it keep a lab's events in order.
	ExtPartitionKey = "partitionkey"
	// ExtInstance is the replica that delivered (Config.Instance).
	ExtInstance = "labdinstance"
)

// EventID is the id of the CloudEvent made from outbox event eventID of
// the store with the given installation id. It is the same on every
// delivery of the event, from any replica, so consumers drop duplicates by it.
func EventID(installation string, eventID int64) string {
	return installation + "-" + strconv.FormatInt(eventID, 10)
}

// cloudEvent converts an outbox event.
func (d *Dispatcher) cloudEvent(id identity, ev store.Event) (event.Event, error) {
	e := event.New(event.CloudEventsVersionV1)
	e.SetID(EventID(id.installation, ev.ID))
	e.SetSource(id.source)
	e.SetType(ev.Type)
	e.SetSubject(ev.Key.String())
	e.SetTime(ev.Time)
	e.SetExtension(ExtPosition, strconv.FormatInt(ev.Position, 10))
	e.SetExtension(ExtPartitionKey, ev.Key.String())
	if ev.UID != "" {
		e.SetExtension(ExtLabUID, ev.UID)
	}
	if ev.Object != nil {
		e.SetExtension(ExtResourceVersion, strconv.FormatInt(ev.Object.Metadata.ResourceVersion, 10))
	}
	if d.cfg.Instance != "" {
		e.SetExtension(ExtInstance, d.cfg.Instance)
	}
	if err := e.SetData(event.ApplicationJSON, Data{Object: ev.Object, Message: ev.Message}); err != nil {
		return e, fmt.Errorf("encode event %d: %w", ev.ID, err)
	}
	if err := e.Validate(); err != nil {
		return e, fmt.Errorf("event %d is not a valid cloudevent: %w", ev.ID, err)
	}
	return e, nil
}

// deliver sends ev to s until s accepts it or ctx ends (the only error).
// Every failure is retried, whatever the status: dropping an event that a
// sink rejects would lose it silently, while a stuck sink shows in
// metrics, logs and its bookmark's lag. beforeWait runs before each backoff.
func (d *Dispatcher) deliver(ctx context.Context, s *sink, id identity, ev store.Event, beforeWait func()) error {
	ce, cerr := d.cloudEvent(id, ev)
	b := wait.Backoff{Min: d.cfg.BackoffMin, Max: d.cfg.BackoffMax}
	start := d.cfg.Now()
	for attempt := 1; ; attempt++ {
		err := cerr
		if err == nil {
			err = d.post(ctx, s, &ce)
		}
		if err == nil {
			took := d.cfg.Now().Sub(start)
			s.delivered(d.cfg.Now())
			d.cfg.Metrics.Delivered(s.display, ev.Type, attempt, took)
			if attempt > 1 {
				d.cfg.Logger.Info("cloudevents: sink accepts events again", "sink", s.display, "event_id", ce.ID(), "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		delay := b.Next()
		var se *StatusError
		if errors.As(err, &se) && se.RetryAfter > delay {
			delay = min(se.RetryAfter, d.cfg.BackoffMax)
		}
		s.failed(d.cfg.Now(), err, delay)
		d.cfg.Metrics.Failed(s.display, err, delay)
		d.cfg.Logger.Warn("cloudevents: delivery failed; retrying", "sink", s.display, "event_id", ce.ID(),
			"type", ev.Type, "subject", ev.Key.String(), "attempt", attempt, "retry_in", delay, "err", err)
		beforeWait()
		if wait.Sleep(ctx, delay) != nil {
			return ctx.Err()
		}
	}
}

// StatusError is a sink's answer other than 2xx.
type StatusError struct {
	StatusCode int
	Body       string // start of the response body
	// RetryAfter is the sink's Retry-After (429, 503), capped by BackoffMax
	// when used.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	msg := "sink answered " + strconv.Itoa(e.StatusCode) + " " + http.StatusText(e.StatusCode)
	if e.StatusCode >= 300 && e.StatusCode < 400 {
		msg += " (redirects are not followed: configure the final URL)"
	}
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// post makes one attempt, in structured content mode.
func (d *Dispatcher) post(ctx context.Context, s *sink, ce *event.Event) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url.String(), nil)
	if err != nil {
		return fmt.Errorf("post %s: %w", s.display, unwrapURL(err))
	}
	if err := cehttp.WriteRequest(binding.WithForceStructured(ctx), binding.ToMessage(ce), req); err != nil {
		return fmt.Errorf("encode event %s: %w", ce.ID(), err)
	}
	req.Header.Set("User-Agent", "labd-eventsink")
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("post %s: %w", s.display, unwrapURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	return &StatusError{StatusCode: resp.StatusCode, Body: strings.TrimSpace(strings.ToValidUTF8(string(body), "?")),
		RetryAfter: retryAfter(resp.Header.Get("Retry-After"), d.cfg.Now())}
}

// unwrapURL drops the URL that *url.Error repeats: its query may hold a
// token (net/http masks only the password).
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("timed out: %w", ue.Err)
		}
		return ue.Err
	}
	return err
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

func (s *sink) delivered(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Delivered++
	s.st.ConsecutiveFailures = 0
	s.st.Backoff = 0
	s.st.LastDeliveredTime = now
}

func (s *sink) failed(now time.Time, err error, delay time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Failures++
	s.st.ConsecutiveFailures++
	s.st.Backoff = delay
	s.st.LastError = err.Error()
	s.st.LastErrorTime = now
}
