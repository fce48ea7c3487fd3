package docker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/labrm/terraform-provider-lab/internal/wait"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// Watching the engine.
//
// Docker does not say why a container stopped beyond its exit code and
// OOM flag: a container stopped by a daemon restart (without live-restore)
// exits 143 like one someone stopped by hand. What tells them apart is the
// daemon's event stream. Run follows it for the engine's lifetime: a
// stream that breaks means the daemon went away (dockerd closes its API
// before it stops containers), and the first Ping that answers again ends
// the outage. A container that finished during a recorded outage was
// stopped by the engine (workload.ReasonEngineRestart); one killed through
// the API while the stream was up is recorded with its signal; an "oom"
// event marks an OOM kill even when the inspect answer's flag lags.
//
// What happened while no labd process watched the engine cannot be told:
// a container stopped by a daemon restart during which every labd replica
// was down is reported as killed by its signal. Run on every replica with
// a controller, so that the one that leads next has seen the outage.

// Monitor settings.
const (
	// pingInterval: how often the stream's health is checked, so that a
	// half-open connection to a remote engine counts as lost.
	pingInterval = 5 * time.Second
	// outageLead widens an outage backwards when matching a container's
	// finish time against it: a daemon that shuts down stops its
	// containers (each within its stop timeout) while its event stream is
	// still open, and closes the stream after. outageSlack widens it
	// forwards: the engine's and labd's clocks may differ a little.
	outageLead  = 20 * time.Second
	outageSlack = 5 * time.Second
	// exitSettle is how long after labd first sees an exit by a signal it
	// waits before the exit is judged (Status.SettlesAt): long enough for
	// a daemon that is shutting down to close its stream (so the exit is
	// known as the engine's), for an OOM report that lags, and for a
	// forced removal to finish.
	exitSettle = outageLead
	// exitSettleUnwatched is the same when Run does not watch the engine.
	exitSettleUnwatched = 2 * time.Second
	// keptOutages: the most recent outages remembered.
	keptOutages = 32
	// maxTracked bounds the per-container records (kills, OOMs, labels).
	maxTracked = 8192
	// flapWindow: a stream that breaks again this soon after the engine
	// came back continues the same outage. A daemon that shuts down
	// closes its event streams first and may answer a ping (and even a
	// new stream) until it exits; its restart is one outage, from the
	// first break to the new daemon's first answer.
	flapWindow = 30 * time.Second
)

type killRecord struct {
	signal string
	at     time.Time
}

// monitor is what Run learns; state() reads it to explain exits.
type monitor struct {
	mu        sync.Mutex
	connected bool      // the stream was up since the last outage
	down      time.Time // when the stream broke; zero while up
	upAt      time.Time // when the engine last came back
	outages   []workload.Outage
	kills     map[string]killRecord // container id → last kill through the API
	ooms      map[string]time.Time  // container id → last OOM event
	exits     map[string]time.Time  // container id → when an exit by a signal was first seen
	watching  bool                  // Run is following the stream
	labels    map[string]map[string]string
	events    chan workload.Event
}

func newMonitor() monitor {
	return monitor{
		kills:  map[string]killRecord{},
		ooms:   map[string]time.Time{},
		exits:  map[string]time.Time{},
		labels: map[string]map[string]string{},
		events: make(chan workload.Event, 256),
	}
}

// Events reports changes as Run sees them (workload exits and removals,
// the engine's recovery after an outage). Hints only: when nobody reads,
// events are dropped.
func (r *Engine) Events() <-chan workload.Event { return r.mon.events }

// Outages returns the outages Run has recorded, oldest first.
func (r *Engine) Outages() []workload.Outage {
	r.mon.mu.Lock()
	defer r.mon.mu.Unlock()
	return append([]workload.Outage(nil), r.mon.outages...)
}

// Run follows the engine's event stream until ctx ends, reconnecting with
// backoff; see the comment at the top of this file. It returns nil when
// ctx ends.
func (r *Engine) Run(ctx context.Context) error {
	r.mon.mu.Lock()
	r.mon.watching = true
	r.mon.mu.Unlock()
	defer func() {
		r.mon.mu.Lock()
		r.mon.watching = false
		r.mon.mu.Unlock()
	}()
	bo := wait.Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	for {
		pctx, cancel := context.WithTimeout(ctx, pingInterval)
		err := r.Ping(pctx)
		cancel()
		if err == nil {
			r.up(time.Now())
			bo.Reset()
			err = r.follow(ctx)
		}
		if ctx.Err() != nil {
			return nil
		}
		if r.lost(time.Now()) {
			r.log.Warn("lost the engine's event stream; watching for its return", "err", err)
		}
		if wait.Sleep(ctx, bo.Next()) != nil {
			return nil
		}
	}
}

// up records that the engine answers; after an outage it remembers the
// outage and tells the controller.
func (r *Engine) up(now time.Time) {
	m := &r.mon
	m.mu.Lock()
	var o *workload.Outage
	if !m.down.IsZero() {
		o = &workload.Outage{Start: m.down, End: now}
		m.outages = append(m.outages, *o)
		if len(m.outages) > keptOutages {
			m.outages = m.outages[len(m.outages)-keptOutages:]
		}
	}
	m.connected, m.down, m.upAt = true, time.Time{}, now
	m.mu.Unlock()
	if o != nil {
		r.log.Warn("the engine answers again after an outage", "from", o.Start, "to", o.End, "outage", o.End.Sub(o.Start))
		r.emit(workload.Event{Kind: workload.EventEngineRecovered, Time: now, Outage: o})
	}
}

// lost records that the stream broke; it reports whether this starts an
// outage (the engine was up before).
func (r *Engine) lost(now time.Time) bool {
	m := &r.mon
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.connected || !m.down.IsZero() {
		return false
	}
	m.down = now
	if n := len(m.outages); n > 0 && now.Sub(m.upAt) < flapWindow && m.outages[n-1].End.Equal(m.upAt) {
		// Broke again right after it came back: the same outage goes on.
		m.down = m.outages[n-1].Start
		m.outages = m.outages[:n-1]
	}
	return true
}

// follow reads the stream until it breaks (an error) or ctx ends (nil).
func (r *Engine) follow(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs, errs := r.cli.Events(ctx, events.ListOptions{Filters: filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)),
		filters.Arg("label", workload.LabelManagedBy+"="+workload.ManagedBy),
	)})
	tick := time.NewTicker(pingInterval)
	defer tick.Stop()
	for {
		select {
		case m := <-msgs:
			r.handle(m)
		case err := <-errs:
			if ctx.Err() != nil {
				return nil
			}
			if err == nil {
				err = errors.New("event stream ended")
			}
			return err
		case <-tick.C:
			pctx, pcancel := context.WithTimeout(ctx, pingInterval)
			_, err := r.cli.Ping(pctx)
			pcancel()
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("engine stopped answering: %w", err)
			}
		case <-ctx.Done():
			return nil
		}
	}
}

// handle records one container event and passes it on.
func (r *Engine) handle(msg events.Message) {
	m := &r.mon
	id, at := msg.Actor.ID, time.Unix(0, msg.TimeNano)
	name := msg.Actor.Attributes["name"]
	m.mu.Lock()
	labels := maps.Clone(m.labels[name])
	switch msg.Action {
	case events.ActionKill:
		m.kills[id] = killRecord{signal: msg.Actor.Attributes["signal"], at: at}
	case events.ActionOOM:
		m.ooms[id] = at
	case events.ActionDestroy:
		delete(m.kills, id)
		delete(m.ooms, id)
		delete(m.exits, id)
		delete(m.labels, name)
	}
	if len(m.kills)+len(m.ooms)+len(m.exits) > maxTracked {
		clear(m.kills)
		clear(m.ooms)
		clear(m.exits)
	}
	m.mu.Unlock()
	switch msg.Action {
	case events.ActionDie:
		r.emit(workload.Event{Kind: workload.EventExited, Name: name, Labels: labels, Time: at})
	case events.ActionDestroy:
		r.emit(workload.Event{Kind: workload.EventRemoved, Name: name, Labels: labels, Time: at})
	}
}

// remember keeps a container's labels by name: the event stream's
// attributes mix the labels with Docker's own keys ("name" is the
// container's there, not our label).
func (m *monitor) remember(st workload.Status) {
	if st.Name == "" || st.Labels == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if st.State != workload.Exited {
		delete(m.exits, st.ID) // started again: a next exit is a new one
	}
	if _, ok := m.labels[st.Name]; !ok && len(m.labels) >= maxTracked {
		clear(m.labels)
	}
	m.labels[st.Name] = st.Labels
}

func (r *Engine) emit(ev workload.Event) {
	select {
	case r.mon.events <- ev:
	default: // nobody reads (a standby): the controller relists anyway
	}
}

// explain fills in why an exited container exited, from what the stream
// showed (see workload.Reason*).
func (m *monitor) explain(st *workload.Status, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, oom := m.ooms[st.ID]; oom || st.OOMKilled {
		st.OOMKilled, st.Reason = true, workload.ReasonOOMKilled
		return
	}
	if !st.FinishedAt.IsZero() {
		outages := m.outages
		if !m.down.IsZero() { // away now: an outage under way
			outages = append(slices.Clip(outages), workload.Outage{Start: m.down, End: now})
		}
		for _, o := range outages {
			if (workload.Outage{Start: o.Start.Add(-outageLead), End: o.End}).Covers(st.FinishedAt, outageSlack) {
				st.Reason = workload.ReasonEngineRestart
				st.Message = fmt.Sprintf("the engine went away at %s (a restart) and stopped the container",
					o.Start.UTC().Format(time.RFC3339))
				return
			}
		}
	}
	if sig := workload.Signal(st.ExitCode); sig != 0 {
		first, ok := m.exits[st.ID]
		if !ok {
			first = now
			m.exits[st.ID] = now
		}
		st.SettlesAt = first.Add(exitSettleUnwatched)
		if m.watching {
			st.SettlesAt = first.Add(exitSettle)
		}
		st.Reason = workload.ReasonKilled
		if k, ok := m.kills[st.ID]; ok {
			who := "signal " + k.signal
			if n := strings.TrimSpace(k.signal); n != "" {
				who = sigName(n)
			}
			st.Message = fmt.Sprintf("killed with %s through the engine's API at %s", who, k.at.UTC().Format(time.RFC3339))
		}
	}
}

// sigName turns the event's signal attribute ("9", "15" or a name) into a
// signal's name.
func sigName(s string) string {
	var n int
	if _, err := fmt.Sscan(s, &n); err == nil {
		return workload.SignalName(n)
	}
	if !strings.HasPrefix(s, "SIG") {
		return "SIG" + s
	}
	return s
}
