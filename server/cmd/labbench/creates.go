package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labrm/terraform-provider-lab/server/store"
)

// runCreates measures creates/s through the API with the controller off
// against pgbench running, in the same kind of fresh database, the SQL
// the store runs for one create (store.CreateScript), at 1, 16 and 64
// clients. pgbench also runs that SQL with pg_notify added to every
// transaction, to show what a notification per write costs.
func runCreates(ctx context.Context, b *bench) error {
	clients := []int{1, 16, 64}
	d, rounds := 5*time.Second, 3
	if b.short {
		clients, d, rounds = []int{1, 4}, time.Second, 1
	}
	for _, c := range clients {
		// Rounds alternate labd and pgbench, and each side reports its
		// median, so that a burst of load from elsewhere on the machine
		// does not land on one side only.
		var api, pg, pgNotify []float64
		for r := range rounds {
			a, err := b.apiCreates(ctx, c, d, r == 0)
			if err != nil {
				return err
			}
			p, err := b.pgbenchCreates(ctx, c, d, false)
			if err != nil {
				return err
			}
			n, err := b.pgbenchCreates(ctx, c, d, true)
			if err != nil {
				return err
			}
			api, pg, pgNotify = append(api, a), append(pg, p), append(pgNotify, n)
		}
		am, pm, nm := median(api), median(pg), median(pgNotify)
		ratio := am / pm
		b.add(row{Group: "creates", What: fmt.Sprintf("lab creates/s through the API, %d client(s), `--controller=false`", c),
			Project: fmt.Sprintf("%.0f/s", am), Baseline: fmt.Sprintf("pgbench, same SQL in one txn: %.0f tps", pm),
			Ratio: fmt.Sprintf("%.2f", ratio), Goal: "≥ 0.6", Met: met(ratio >= 0.6),
			Note: fmt.Sprintf("median of %d rounds of %s, alternating; pgbench with pg_notify in every txn: %.0f tps (%.2f× without)", rounds, d, nm, nm/pm)})
	}
	return nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// apiCreates runs clients concurrent creators against a fresh labd for d
// (after a warm-up) and returns creates per second.
func (b *bench) apiCreates(ctx context.Context, clients int, d time.Duration, profile bool) (float64, error) {
	dbURL, drop, err := b.database(ctx, "creates")
	if err != nil {
		return 0, err
	}
	defer drop()
	l, err := b.startLabd(ctx, dbURL, "--controller=false")
	if err != nil {
		return 0, err
	}
	defer l.stop()
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var seq atomic.Int64
	load := func(d time.Duration) (int64, error) {
		var n atomic.Int64
		var firstErr error
		var once sync.Once
		deadline := time.Now().Add(d)
		var wg sync.WaitGroup
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) && ctx.Err() == nil {
					body := createBody(fmt.Sprintf("c%d-%d", c, seq.Add(1)), b.image)
					if err := post(ctx, hc, l.base+"/api/lab-instances/", body); err != nil {
						once.Do(func() { firstErr = err })
						return
					}
					n.Add(1)
				}
			}()
		}
		wg.Wait()
		return n.Load(), firstErr
	}
	if _, err := load(d / 5); err != nil { // warm-up: connections, caches, plans
		return 0, err
	}
	var n int64
	measure := func() error {
		start := time.Now()
		var err error
		n, err = load(d)
		d = time.Since(start)
		return err
	}
	if profile {
		err = b.profile(ctx, l, fmt.Sprintf("creates-%d", clients), int(d/time.Second), measure)
	} else {
		err = measure()
	}
	if err != nil {
		return 0, err
	}
	rate := float64(n) / d.Seconds()
	b.logf("API creates, %d client(s): %d in %s = %.0f/s", clients, n, d.Round(time.Millisecond), rate)
	return rate, nil
}

// createBody is the manifest the API creates benchmark posts: one label,
// default limits.
func createBody(name, image string) []byte {
	return fmt.Appendf(nil, `{"metadata":{"name":%q,"labels":{"course":"bench"}},"spec":{"lab_template":%q,"student_email":"s-%s@university.edu","duration_minutes":60}}`, name, image, name)
}

func post(ctx context.Context, hc *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, b)
	}
	return nil
}

var tpsRe = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// pgbenchCreates runs pgbench with the store's create script in a fresh,
// migrated database and returns transactions per second.
func (b *bench) pgbenchCreates(ctx context.Context, clients int, d time.Duration, notify bool) (float64, error) {
	dbURL, drop, err := b.database(ctx, "pgbench")
	if err != nil {
		return 0, err
	}
	defer drop()
	db, err := store.Open(ctx, store.Config{URL: dbURL})
	if err != nil {
		return 0, err
	}
	db.Close()
	script, err := os.CreateTemp("", "labbench-*.sql")
	if err != nil {
		return 0, err
	}
	defer os.Remove(script.Name())
	if _, err := script.WriteString(store.CreateScript(notify)); err != nil {
		return 0, err
	}
	script.Close()
	env, err := b.pgEnv()
	if err != nil {
		return 0, err
	}
	env = append(env, "PGDATABASE="+filepath.Base(mustPath(dbURL)))
	secs := max(int(d/time.Second), 1)
	cmd := exec.CommandContext(ctx, filepath.Join(b.pgbin, "pgbench"), "-n", "-M", "prepared", "-c", strconv.Itoa(clients),
		"-j", strconv.Itoa(min(clients, 2)), "-T", strconv.Itoa(secs), "-f", script.Name())
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pgbench: %v: %s", err, out)
	}
	m := tpsRe.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("pgbench printed no tps: %s", out)
	}
	tps, _ := strconv.ParseFloat(string(m[1]), 64)
	b.logf("pgbench creates, %d client(s), notify=%v: %.0f tps", clients, notify, tps)
	return tps, nil
}
