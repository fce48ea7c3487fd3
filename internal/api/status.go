package api

import "time"

// Health is the body of GET /api/status/health: the process is up.
type Health struct {
	Status    string    `json:"status"`
	Timestamp time.Time `json:"timestamp"`
	Service   string    `json:"service"`
	Version   string    `json:"version"`
}

// ServiceName is reported by the health endpoint.
const ServiceName = "lab-resource-manager"

// Ready is the body of GET /api/status/ready: "ready" with every check
// "ok", or "not_ready" (HTTP 503) with the failing check's error.
type Ready struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// LeaderStatus is the body of GET /api/status/leader, answered by every
// replica.
type LeaderStatus struct {
	IsLeader    bool       `json:"is_leader"`
	Identity    string     `json:"identity"`
	Leader      string     `json:"leader"`
	Epoch       int64      `json:"epoch"`
	LeaderSince *time.Time `json:"leader_since,omitempty"`
}

// ControllerWatcher is the name of the controller's outbox bookmark: the
// controller advances it, and GET /api/status/bookmarks reports it at the
// top level of BookmarkStatus.
const ControllerWatcher = "controller"

// WatcherBookmark is one outbox watcher's progress. Lag counts the change
// events the watcher has still to handle.
type WatcherBookmark struct {
	Name           string `json:"name"`
	Bookmark       int64  `json:"bookmark"`
	CurrentVersion int64  `json:"current_version"`
	Lag            int64  `json:"lag"`
}

// BookmarkStatus is the body of GET /api/status/bookmarks: the controller
// watcher's progress at the top level (the design document's shape) and
// every watcher's in Watchers.
type BookmarkStatus struct {
	Bookmark       int64             `json:"bookmark"`
	CurrentVersion int64             `json:"current_version"`
	Lag            int64             `json:"lag"`
	Watchers       []WatcherBookmark `json:"watchers"`
}

// FinalizerStatus is the body of GET /api/status/finalizers.
type FinalizerStatus struct {
	Pending    int64 `json:"pending"`
	Processing int64 `json:"processing"`
	Completed  int64 `json:"completed"`
	Failed     int64 `json:"failed"`
}

// SystemStatus is the body of GET /api/status/status.
type SystemStatus struct {
	Service       string          `json:"service"`
	Version       string          `json:"version"`
	Identity      string          `json:"identity"`
	Leader        string          `json:"leader"`
	IsLeader      bool            `json:"is_leader"`
	Phases        map[Phase]int64 `json:"phases"`
	Total         int64           `json:"total"`
	QueueDepth    int             `json:"queue_depth"`
	UptimeSeconds float64         `json:"uptime_seconds"`
	StartedAt     time.Time       `json:"started_at"`
}
