package main

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// runFailover runs two labd replicas on one database and measures how
// long after a signal to the leader the standby leads (its
// /api/status/leader says so): SIGKILL (crash), SIGTERM (graceful) and
// SIGSTOP (a frozen leader, freed only by the lease), with the default
// and with a short lease. The baseline is the retry period, how often a
// standby used to try for the lock.
func runFailover(ctx context.Context, b *bench) error {
	short := []string{"--lease-duration", "3s", "--renew-deadline", "2s", "--retry-period", "500ms"}
	cases := []struct {
		what  string
		sig   syscall.Signal
		args  []string
		goal  time.Duration
		base  string
		limit time.Duration
	}{
		{"SIGKILL, defaults", syscall.SIGKILL, nil, time.Second, "retry period 2 s", 30 * time.Second},
		{"SIGTERM, defaults", syscall.SIGTERM, nil, time.Second, "retry period 2 s", 30 * time.Second},
		{"SIGSTOP (frozen leader), defaults", syscall.SIGSTOP, nil, 16 * time.Second, "lease 15 s + retry period 2 s", 40 * time.Second},
		{"SIGKILL, short lease (3s/2s/500ms)", syscall.SIGKILL, short, time.Second, "retry period 0.5 s", 30 * time.Second},
		{"SIGSTOP (frozen leader), short lease (3s/2s/500ms)", syscall.SIGSTOP, short, 4 * time.Second, "lease 3 s + retry period 0.5 s", 30 * time.Second},
	}
	if b.short {
		cases = cases[:2]
	}
	for _, c := range cases {
		d, err := b.failover(ctx, c.sig, c.args, c.limit)
		if err != nil {
			b.add(row{Group: "failover", What: "new leader after " + c.what, Baseline: c.base, Goal: fmt.Sprintf("≤ %s", c.goal), Met: "no", Note: err.Error()})
			continue
		}
		b.add(row{Group: "failover", What: "new leader after " + c.what, Project: fmt.Sprintf("%.2f s", d.Seconds()), Baseline: c.base,
			Goal: fmt.Sprintf("≤ %s", c.goal), Met: met(d <= c.goal)})
	}
	return nil
}

func (b *bench) failover(ctx context.Context, sig syscall.Signal, args []string, limit time.Duration) (time.Duration, error) {
	dbURL, drop, err := b.database(ctx, "failover")
	if err != nil {
		return 0, err
	}
	defer drop()
	args = append([]string{"--capacity-cpu", "8", "--capacity-memory", "16Gi"}, args...)
	first, err := b.startLabd(ctx, dbURL, append([]string{"--instance-id", "first"}, args...)...)
	if err != nil {
		return 0, err
	}
	defer first.stop()
	if err := waitLeader(ctx, first, 30*time.Second); err != nil {
		return 0, fmt.Errorf("first replica: %w", err)
	}
	second, err := b.startLabd(ctx, dbURL, append([]string{"--instance-id", "second"}, args...)...)
	if err != nil {
		return 0, err
	}
	defer second.stop()
	time.Sleep(time.Second) // the standby is in its campaign
	t0 := time.Now()
	first.signal(sig)
	if err := waitLeader(ctx, second, limit); err != nil {
		return 0, fmt.Errorf("standby: %w", err)
	}
	return time.Since(t0), nil
}

// waitLeader polls l's /api/status/leader every 10 ms until it leads.
func waitLeader(ctx context.Context, l *labd, limit time.Duration) error {
	a := newAPIClient(l.base, 1)
	a.hc.Timeout = time.Second
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var st api.LeaderStatus
		if err := a.get(ctx, "/api/status/leader", &st); err == nil && st.IsLeader {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("not leading after %s", limit)
}
