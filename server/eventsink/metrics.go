package eventsink

import (
	"time"
)

// Metrics observes delivery, so that labd can export it (Prometheus) without
// this package depending on a metrics library. sink is the sink's display
// URL (scheme://host/path, no credentials or query), a stable, low
// cardinality label. Calls come from the sink's goroutine and must not block.
type Metrics interface {
	// Delivered: the sink accepted an event (2xx) at the attempt-th try,
	// took after the first try began. A following Failed is a new event.
	Delivered(sink, eventType string, attempt int, took time.Duration)
	// Failed: one attempt failed (err says why, see *StatusError); the event
	// is tried again after backoff. The sink is "down" from the first Failed
	// until the next Delivered.
	Failed(sink string, err error, backoff time.Duration)
	// Advanced: the sink's bookmark moved to position.
	Advanced(sink string, position int64)
}

type nopMetrics struct{}

func (nopMetrics) Delivered(string, string, int, time.Duration) {}
func (nopMetrics) Failed(string, error, time.Duration)          {}
func (nopMetrics) Advanced(string, int64)                       {}

// SinkStatus is what a Dispatcher last knew about one sink, from memory
// (bookmarks in the database are authoritative; see store.DB.Bookmarks).
type SinkStatus struct {
	Sink     string `json:"sink"`     // scheme://host/path
	Bookmark string `json:"bookmark"` // outbox bookmark name
	// Position is the bookmark as this dispatcher last read or wrote it.
	Position            int64         `json:"position"`
	Delivered           int64         `json:"delivered"`            // events accepted since start
	Failures            int64         `json:"failures"`             // failed attempts since start
	ConsecutiveFailures int64         `json:"consecutive_failures"` // 0 when healthy
	LastError           string        `json:"last_error,omitempty"`
	LastErrorTime       time.Time     `json:"last_error_time,omitzero"`
	LastDeliveredTime   time.Time     `json:"last_delivered_time,omitzero"`
	Backoff             time.Duration `json:"backoff_ns"` // current wait before the next attempt; 0 when healthy
}
