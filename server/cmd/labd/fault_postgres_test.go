package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/servertest"
)

// TestFaultPostgresRestart restarts PostgreSQL (a private cluster: the
// shared one serves every other test) under about 20 creates a second:
// while it is down, creates answer 503 with Retry-After and never 500, the
// readiness probe says not ready, and the controller's retries log a line
// per cause per interval, not one per retry; once it is back, readiness
// returns, no acknowledged create is lost, and reconciliation resumes
// (new labs are reconciled, a lab started now runs, the lab that ran
// before still runs in the same container). It runs on each runtime
// (docker, kubernetes).
func TestFaultPostgresRestart(t *testing.T) {
	t.Parallel()
	eachRuntime(t, testPostgresRestart)
}

func testPostgresRestart(t *testing.T, rt *labRuntime) {
	image := rt.image
	pg := servertest.StartPrivatePostgres(t)
	rt.removeWorkloads(t, pg.URL)
	p := startLabd(t, "pg-restart", pg.URL, rt.flags...)
	base := "http://" + p.addr
	before := createRunning(t, p.cl, "before", image)

	tomorrow := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	var (
		mu       sync.Mutex
		acked    []string
		statuses = map[int]int{}
		noRetry  int // 503s without Retry-After
		ready    []int
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // ~20 creates a second
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			name := fmt.Sprintf("load-%04d", i)
			body := strings.Replace(labBody(name, image, nil), `"name"`, `"scheduled_start_time":"`+tomorrow+`","name"`, 1)
			r := rawDo("POST", base+"/api/lab-instances/", "application/json", body)
			mu.Lock()
			statuses[r.status]++
			if r.status == http.StatusCreated {
				acked = append(acked, name)
			}
			if r.status == http.StatusServiceUnavailable && r.header.Get("Retry-After") == "" {
				noRetry++
			}
			mu.Unlock()
		}
	}()
	go func() { // the readiness probe, as a load balancer runs it
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			r := rawDo("GET", base+"/api/status/ready", "", "")
			mu.Lock()
			if len(ready) == 0 || ready[len(ready)-1] != r.status {
				ready = append(ready, r.status)
			}
			mu.Unlock()
		}
	}()

	time.Sleep(2 * time.Second)
	logsBefore := len(p.log())
	pg.Stop()
	outage := time.Now()
	time.Sleep(6 * time.Second)
	pg.Start()
	outageLen := time.Since(outage)
	servertest.Eventually(t, "readiness after the restart", 60*time.Second, func() bool {
		return rawDo("GET", base+"/api/status/ready", "", "").status == http.StatusOK
	})
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	outageLog := p.log()[logsBefore:]

	t.Logf("PostgreSQL down %s; answers %v; readiness %v; %d creates acknowledged", outageLen.Round(time.Millisecond), statuses, ready, len(acked))
	for status, n := range statuses {
		if status != http.StatusCreated && status != http.StatusServiceUnavailable {
			t.Errorf("%d answers with status %d (want only 201 and 503)", n, status)
		}
	}
	if statuses[http.StatusServiceUnavailable] == 0 || noRetry > 0 {
		t.Errorf("503s: %d, %d of them without Retry-After", statuses[http.StatusServiceUnavailable], noRetry)
	}
	if len(ready) < 3 || ready[0] != http.StatusOK || ready[len(ready)-1] != http.StatusOK || !containsInt(ready, http.StatusServiceUnavailable) {
		t.Errorf("readiness went %v, want 200, 503 during the outage, 200", ready)
	}

	// The log of the outage: a line per cause per interval.
	perCause := map[string]int{}
	for _, line := range strings.Split(outageLog, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || (rec["level"] != "WARN" && rec["level"] != "ERROR") {
			continue
		}
		if c := rec["component"]; c == "http" || c == nil {
			continue // one line per refused request is the access log's business
		}
		perCause[fmt.Sprint(rec["component"], " | ", rec["msg"], " | ", rec["err"])]++
	}
	intervals := int(outageLen/(10*time.Second)) + 2 // lograte.DefaultInterval, and the edges
	total := 0
	for cause, n := range perCause {
		total += n
		if n > intervals {
			t.Errorf("%d lines of one cause during a %s outage (at most %d): %s", n, outageLen.Round(time.Second), intervals, cause)
		}
	}
	t.Logf("%d control-plane warnings during the outage, %d causes", total, len(perCause))

	// No acknowledged write lost; reconciliation resumes.
	ctx := context.Background()
	for _, name := range acked {
		l, err := p.cl.Get(ctx, api.Key{Namespace: "default", Name: name})
		if err != nil {
			t.Fatalf("acknowledged create %s lost: %v", name, err)
		}
		if name == acked[len(acked)-1] {
			servertest.Eventually(t, "the last lab to be reconciled", 60*time.Second, func() bool {
				l, err = p.cl.Get(ctx, l.Key())
				c := l.Condition(api.ConditionScheduled)
				return err == nil && l.Metadata.HasFinalizer(api.Finalizer) && c != nil && c.Reason == "WaitingForStartTime"
			})
		}
	}
	if _, err := p.cl.Start(ctx, api.Key{Namespace: "default", Name: acked[len(acked)-1]}); err != nil {
		t.Fatal(err)
	}
	servertest.Eventually(t, "a lab started after the restart to run", 60*time.Second, func() bool {
		l, err := p.cl.Get(ctx, api.Key{Namespace: "default", Name: acked[len(acked)-1]})
		return err == nil && l.Status.Phase == api.PhaseRunning
	})
	after, err := p.cl.Get(ctx, before.Key())
	if err != nil || after.Status.Phase != api.PhaseRunning || after.Status.ContainerID != before.Status.ContainerID {
		t.Fatalf("the lab running before the outage: %+v, %v", after.Status, err)
	}
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
