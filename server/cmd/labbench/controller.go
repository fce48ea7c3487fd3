package main

import (
	"context"
	"fmt"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// missingImage is an image no engine can have: its registry is a closed
// port on loopback, so the pull fails at once and nothing leaves the host.
const missingImage = "127.0.0.1:1/labbench/missing:1"

// runController imports N PENDING labs whose image cannot be had, starts
// labd with the controller, and measures how long until every lab is
// decided (FAILED: image unavailable), the controller's CPU meanwhile, and
// its CPU once settled. A run that does not settle within the bound
// reports how far it got.
func runController(ctx context.Context, b *bench) error {
	n, bound, idle := b.controllerLabs, 6*time.Minute, 30*time.Second
	if b.short {
		n, bound, idle = 20, 30*time.Second, 2*time.Second
	}
	dbURL, drop, err := b.database(ctx, "controller")
	if err != nil {
		return err
	}
	defer drop()
	t0 := time.Now()
	if err := seedLabs(ctx, dbURL, 0, n, missingImage, func(int) api.Phase { return api.PhasePending }); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	b.logf("seeded %d PENDING labs in %s", n, time.Since(t0).Round(time.Millisecond))
	l, err := b.startLabd(ctx, dbURL, "--capacity-cpu", "64", "--capacity-memory", "256Gi")
	if err != nil {
		return err
	}
	defer l.stop()
	a := newAPIClient(l.base, 1)
	start, cpu0 := time.Now(), l.cpu()
	decided, settled := 0, time.Duration(0)
	var lastErr error
	err = b.profile(ctx, l, "controller", 30, func() error {
		for time.Since(start) < bound && ctx.Err() == nil {
			var st api.SystemStatus
			if err := a.get(ctx, "/api/status/status", &st); err != nil {
				lastErr = err
			} else {
				decided = n - int(st.Phases["PENDING"]) - int(st.Phases["PROVISIONING"])
				if decided >= n {
					settled = time.Since(start)
					return nil
				}
			}
			time.Sleep(time.Second)
		}
		return nil
	})
	if err != nil {
		return err
	}
	busy := l.cpu() - cpu0
	elapsed := time.Since(start)
	what := fmt.Sprintf("controller with %d PENDING labs (image missing)", n)
	if settled == 0 {
		note := ""
		if lastErr != nil {
			note = "last status error: " + lastErr.Error()
		}
		b.add(row{Group: "controller", What: what, Project: fmt.Sprintf("%d decided in %s, %.2f core busy", decided, secs(elapsed), busy.Seconds()/elapsed.Seconds()),
			Goal: "all decided in ≤ 5 min; idle ≤ 2% of a core once settled", Met: "no", Note: note})
		return nil
	}
	// Settled: what does the controller cost while nothing happens? Once
	// every lab is decided, the work queue still holds each lab's last
	// event (a look at an ended lab); idle starts when it is empty.
	drained, depth := time.Now(), -1.0
	for time.Since(drained) < bound && ctx.Err() == nil {
		if depth = a.metric(ctx, "labd_workqueue_depth"); depth == 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	drain := time.Since(drained)
	b.logf("work queue empty %s after the last lab was decided (depth %v)", drain.Round(100*time.Millisecond), depth)
	c1 := l.cpu()
	time.Sleep(idle)
	idleCPU := float64(l.cpu()-c1) / float64(idle)
	b.add(row{Group: "controller", What: what,
		Project: fmt.Sprintf("all decided in %s, %.2f core busy meanwhile; idle %.1f%% of a core", secs(settled), busy.Seconds()/elapsed.Seconds(), idleCPU*100),
		Note:    fmt.Sprintf("work queue empty %s after the last decision; idle measured for %s from then", secs(drain), idle),
		Goal:    "all decided in ≤ 5 min; idle ≤ 2% of a core once settled", Met: met(settled <= 5*time.Minute && idleCPU <= 0.02)})
	return nil
}
