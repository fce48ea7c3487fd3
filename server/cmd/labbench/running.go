package main

import (
	"context"
	"fmt"
	"net/url"
	"time"
)

// runRunning posts N labs at once and times them until every one is
// RUNNING, watched through the API (whatever RUNNING means to labd: today
// the container started), against N parallel create+start calls to the
// Docker API with the same image and limits. Capacity is set high so that
// admission is not what is measured; the stall row repeats the issue's
// 50 labs with 16 workers and 64 CPUs.
func runRunning(ctx context.Context, b *bench) error {
	d, err := newDockerAPI(b.dockerHost)
	if err != nil {
		return err
	}
	type run struct {
		n    int
		args []string
		what string
	}
	runs := []run{
		{20, nil, "20 labs POSTed at once → all RUNNING (default workers)"},
		{50, nil, "50 labs → all RUNNING (default workers)"},
		{50, []string{"--workers", "16"}, "50 labs, `--workers 16`, 64 CPUs of capacity: no stall"},
	}
	if b.short {
		runs = []run{{2, nil, "2 labs → all RUNNING"}}
	}
	for _, r := range runs {
		direct, directRemove, err := d.directStarts(ctx, r.n, b.image)
		if err != nil {
			return fmt.Errorf("direct starts: %w", err)
		}
		b.logf("%d direct starts: %s, removals %s", r.n, direct.Round(time.Millisecond), directRemove.Round(time.Millisecond))
		up, down, err := b.labsToRunning(ctx, r.n, r.args)
		if err != nil {
			b.add(row{Group: "running", What: r.what, Baseline: fmt.Sprintf("%d × `docker run -d` in parallel: %s", r.n, secs(direct)),
				Goal: "≤ 1.1", Met: "no", Note: err.Error()})
			continue
		}
		ratio := up.Seconds() / direct.Seconds()
		b.add(row{Group: "running", What: r.what, Project: secs(up),
			Baseline: fmt.Sprintf("%d × `docker run -d` in parallel: %s", r.n, secs(direct)),
			Ratio:    fmt.Sprintf("%.2f", ratio), Goal: "≤ 1.1", Met: met(ratio <= 1.1),
			Note: fmt.Sprintf("delete all until gone: %s vs %d parallel `docker rm -f`: %s", secs(down), r.n, secs(directRemove))})
	}
	return nil
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

// labsToRunning starts a labd with the controller, posts n labs and
// returns how long until all were RUNNING, then deletes them and returns
// how long until all were gone.
func (b *bench) labsToRunning(ctx context.Context, n int, args []string) (up, down time.Duration, err error) {
	dbURL, drop, err := b.database(ctx, "running")
	if err != nil {
		return 0, 0, err
	}
	defer drop()
	args = append([]string{"--capacity-cpu", "64", "--capacity-memory", "256Gi"}, args...)
	l, err := b.startLabd(ctx, dbURL, args...)
	if err != nil {
		return 0, 0, err
	}
	defer l.stop()
	a := newAPIClient(l.base, n)
	q := url.Values{"label_selector": {"course=bench"}}
	t0 := time.Now()
	if err := a.createMany(ctx, "run", n, b.image); err != nil {
		return 0, 0, err
	}
	if err := a.waitPhase(ctx, q, n, "RUNNING", 80*time.Second); err != nil {
		return 0, 0, err
	}
	up = time.Since(t0)
	t1 := time.Now()
	for i := range n {
		if err := a.delete(ctx, fmt.Sprintf("run-%d", i)); err != nil {
			return up, 0, err
		}
	}
	if err := a.waitGone(ctx, q, 2*time.Minute); err != nil {
		return up, 0, err
	}
	return up, time.Since(t1), nil
}
