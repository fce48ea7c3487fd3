package lograte_test

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/lograte"
	"github.com/labrm/terraform-provider-lab/server/servertest"
)

func TestOneLinePerCausePerInterval(t *testing.T) {
	t.Parallel()
	var buf servertest.LogBuffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := lograte.New(slog.NewTextHandler(&buf, nil), lograte.Config{Interval: 10 * time.Second, Now: func() time.Time { return now }})
	ctrl := slog.New(h).With("component", "controller")
	leader := slog.New(h).With("component", "leader")

	refused := func(lab string) error {
		return fmt.Errorf("get lab %s: %w", lab, fmt.Errorf("dial tcp 127.0.0.1:5432: %w", syscall.ECONNREFUSED))
	}
	unavailable := errors.Join(api.Errorf(api.EUNAVAILABLE, "the database cannot be reached; retry later"), errors.New("dial tcp: refused"))
	// An outage of 6 s: 80 failures of each kind, from many labs.
	for i := range 80 {
		ctrl.Warn("reconcile failed", "lab", fmt.Sprintf("default/lab-%d", i), "err", refused(fmt.Sprint(i)))
		ctrl.Warn("reconcile failed", "lab", fmt.Sprintf("default/lab-%d", i), "err", unavailable)
		leader.Warn("reconcile failed", "err", refused("x")) // another component: its own cause
		ctrl.Info("reconcile", "lab", i)                     // not a warning: always logged
		ctrl.Warn("something odd")                           // no error: always logged
		now = now.Add(75 * time.Millisecond)
	}
	out := buf.String()
	count := func(s string) int { return strings.Count(out, s) }
	if n := count(`level=WARN msg="reconcile failed" component=controller lab=default/lab-0 err="get lab 0`); n != 1 {
		t.Fatalf("first refused warning logged %d times:\n%s", n, out)
	}
	if n := count("component=controller") - count("level=INFO") - count(`msg="something odd"`); n != 2 {
		t.Fatalf("controller warnings with errors in 6s: %d, want one per cause (2)\n%s", n, out)
	}
	if n := count("component=leader"); n != 1 {
		t.Fatalf("leader warnings: %d, want 1", n)
	}
	if count("level=INFO") != 80 || count(`msg="something odd"`) != 80 {
		t.Fatal("records without errors were limited")
	}
	// After the interval the cause logs again, saying how many it dropped.
	now = now.Add(10 * time.Second)
	ctrl.Warn("reconcile failed", "lab", "default/lab-x", "err", refused("x"))
	if !strings.Contains(buf.String(), "lab=default/lab-x err=\"get lab x: dial tcp 127.0.0.1:5432: connection refused\" suppressed=79") {
		t.Fatalf("no suppressed count:\n%s", buf.String())
	}
}
