package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// seedLabs imports labs from-to-1 into dbURL through the store's bulk
// load: 50 namespaces, 2000 students, four phases, a course label of 500
// values (200 labs each at 100,000) and a term label every lab has.
func seedLabs(ctx context.Context, dbURL string, from, to int, image string, phase func(i int) api.Phase) error {
	db, err := store.Open(ctx, store.Config{URL: dbURL})
	if err != nil {
		return err
	}
	defer db.Close()
	const batch = 2000
	for lo := from; lo < to; lo += batch {
		var labs []*api.LabInstanceRequest
		for i := lo; i < min(lo+batch, to); i++ {
			labs = append(labs, &api.LabInstanceRequest{
				Metadata: api.ObjectMeta{Name: fmt.Sprintf("lab-%d", i), Namespace: fmt.Sprintf("ns%d", i%50),
					Labels: api.StringMap{"course": fmt.Sprintf("c%d", i%500), "term": "fall"}},
				Spec: api.Spec{LabTemplate: image, StudentEmail: fmt.Sprintf("s%d@university.edu", i%2000), DurationMinutes: 60,
					ResourceLimits: &api.ResourceLimits{CPU: "1", Memory: "2Gi"}},
				Status: api.Status{Phase: phase(i)},
			})
		}
		if err := db.ImportLabs(ctx, labs); err != nil {
			return err
		}
	}
	return nil
}

var phases = []api.Phase{api.PhasePending, api.PhaseRunning, api.PhaseCompleted, api.PhaseFailed}

// runList measures list and get latency at 10,000 and 100,000 labs, for
// every filter, against a labd with the controller off.
func runList(ctx context.Context, b *bench) error {
	sizes, reqs := []int{10000, 100000}, 300
	if b.short {
		sizes, reqs = []int{200}, 20
	}
	dbURL, drop, err := b.database(ctx, "list")
	if err != nil {
		return err
	}
	defer drop()
	seeded := 0
	for _, n := range sizes {
		t0 := time.Now()
		if err := seedLabs(ctx, dbURL, seeded, n, b.image, func(i int) api.Phase { return phases[i%4] }); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		b.logf("seeded %d labs in %s", n-seeded, time.Since(t0).Round(time.Millisecond))
		seeded = n
		l, err := b.startLabd(ctx, dbURL, "--controller=false")
		if err != nil {
			return err
		}
		hc := &http.Client{Timeout: 30 * time.Second}
		queries := []struct{ what, path string }{
			{"get by name", "/api/lab-instances/lab-77?namespace=ns27"},
			{"list `label_selector=course=c7&limit=50`", "/api/lab-instances/?label_selector=course%3Dc7&limit=50"},
			{"list `label_selector=term=fall&limit=50` (every lab)", "/api/lab-instances/?label_selector=term%3Dfall&limit=50"},
			{"list `label_selector=course=c7,term=fall&limit=50`", "/api/lab-instances/?label_selector=" + url.QueryEscape("course=c7,term=fall") + "&limit=50"},
			{"list `phase=RUNNING&limit=50`", "/api/lab-instances/?phase=RUNNING&limit=50"},
			{"list `student_email=s42@…&limit=50`", "/api/lab-instances/?student_email=s42%40university.edu&limit=50"},
			{"list `namespace=ns7&limit=50`", "/api/lab-instances/?namespace=ns7&limit=50"},
			{"list `namespace=ns7&phase=FAILED&limit=50`", "/api/lab-instances/?namespace=ns7&phase=FAILED&limit=50"},
			{"list `limit=50` (no filter)", "/api/lab-instances/?limit=50"},
		}
		var getP99 time.Duration
		for _, q := range queries {
			p50, p99, err := latency(ctx, hc, l.base+q.path, reqs)
			if err != nil {
				l.stop()
				return err
			}
			r := row{Group: "list", What: fmt.Sprintf("%s, %d labs", q.what, n), Project: fmt.Sprintf("p50 %s, p99 %s", ms(p50), ms(p99)),
				Goal: "p99 ≤ 10 ms", Met: met(p99 <= 10*time.Millisecond)}
			if q.what == "get by name" {
				getP99 = p99
				r.Goal, r.Met = "", ""
			} else if getP99 > 0 {
				r.Baseline, r.Ratio = "GET by name: p99 "+ms(getP99), fmt.Sprintf("%.1f× by name", float64(p99)/float64(getP99))
			}
			b.add(r)
		}
		l.stop()
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// latency GETs url n times, one at a time after a few warm-ups, and
// returns the median and 99th percentile.
func latency(ctx context.Context, hc *http.Client, url string, n int) (p50, p99 time.Duration, err error) {
	var ds []time.Duration
	for i := range n + 5 {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		t0 := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return 0, 0, err
		}
		_, _ = drain(resp)
		if resp.StatusCode != 200 {
			return 0, 0, fmt.Errorf("GET %s: %d", url, resp.StatusCode)
		}
		if i >= 5 {
			ds = append(ds, time.Since(t0))
		}
	}
	slices.Sort(ds)
	return ds[len(ds)/2], ds[min(len(ds)-1, len(ds)*99/100)], nil
}
