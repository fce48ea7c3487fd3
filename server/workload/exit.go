package workload

import (
	"fmt"
	"time"
)

// Why a workload exited, as an engine reports it in Status.Reason of an
// Exited workload. An engine sets only what it knows; the controller
// words the lab's error from it and never guesses beyond it.
const (
	// ReasonOOMKilled: the engine's out-of-memory killer ended it.
	ReasonOOMKilled = "OOMKilled"
	// ReasonEngineRestart: the engine stopped it while shutting down or
	// restarting; the workload did nothing wrong, and the controller
	// starts it again if its lab's time is not over.
	ReasonEngineRestart = "EngineRestart"
	// ReasonKilled: a signal it was sent from outside ended it (exit code
	// 128+n), not the OOM killer and not an engine restart. Message says
	// who sent it when the engine knows (through its API).
	ReasonKilled = "Killed"
	// ReasonNodeLost: the machine it ran on (a cluster's node) stopped
	// answering for longer than the engine's bound, or was removed; the
	// workload is gone with it (ExitCode -1) and is not started again:
	// what it had not saved elsewhere is lost. Message names the machine.
	ReasonNodeLost = "NodeLost"
	// ReasonEvicted: the engine ended it to reclaim resources its machine
	// ran short of (memory, disk), or on request through its API.
	ReasonEvicted = "Evicted"
	// ReasonRemoved: it is being removed, and not by the controller (which
	// removes a workload only once its lab has ended): someone deleted it
	// through the engine's API, such as a pod deleted in the cluster. It
	// is gone, or about to be.
	ReasonRemoved = "Removed"
)

// Signal is the signal an exit code of 128+n reports (n from 1 to 64),
// or 0 for an exit of the workload's own.
func Signal(exitCode int) int {
	if exitCode > 128 && exitCode <= 128+64 {
		return exitCode - 128
	}
	return 0
}

// SignalName names the common signals (SIGKILL), others by number.
func SignalName(sig int) string {
	switch sig {
	case 1:
		return "SIGHUP"
	case 2:
		return "SIGINT"
	case 3:
		return "SIGQUIT"
	case 6:
		return "SIGABRT"
	case 9:
		return "SIGKILL"
	case 11:
		return "SIGSEGV"
	case 15:
		return "SIGTERM"
	}
	return fmt.Sprintf("signal %d", sig)
}

// Outage is a span during which an engine could not be reached: it was
// restarting, or the connection to it was lost. Start is when the engine
// was last known up, End when it answered again.
type Outage struct {
	Start, End time.Time
}

// Covers reports whether t falls in the outage, give or take slack (an
// engine that shuts down stops its workloads within their stop timeout).
func (o Outage) Covers(t time.Time, slack time.Duration) bool {
	return !t.Before(o.Start.Add(-slack)) && !t.After(o.End.Add(slack))
}

// EventKind is what happened to a workload, or to the engine.
type EventKind string

// Event kinds.
const (
	// EventExited: a workload stopped running (Name and Labels say which).
	EventExited EventKind = "exited"
	// EventRemoved: a workload is gone from the engine.
	EventRemoved EventKind = "removed"
	// EventEngineRecovered: the engine answers again after an Outage;
	// any workload may have been stopped (or kept running) meanwhile.
	EventEngineRecovered EventKind = "engine-recovered"
	// EventChanged: anything else about a workload changed as the engine
	// saw it: created, placed, started, became ready or unready, exited,
	// deleted, or the machine it runs on changed (an engine that watches
	// its workloads, such as Kubernetes' informers, says no more than
	// this; the controller inspects the workload as always).
	EventChanged EventKind = "changed"
)

// Event is a change an engine reports as it happens, so that the
// controller looks at the lab concerned at once instead of at its next
// probe. Events are hints: they may be lost (a full channel, an engine
// that cannot say), and the controller stays level-based.
type Event struct {
	Kind   EventKind
	Name   string            // the workload's name; "" for engine events
	Labels map[string]string // the workload's labels, when known
	Time   time.Time
	Outage *Outage // EventEngineRecovered: the span it was away
}
