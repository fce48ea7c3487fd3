package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// TestFaultConcurrentWriters: 50 PUTs naming the same version at once
// give exactly one 200 and 49 × 409, and 200 concurrent read-modify-write
// increments (GET, +1, PUT with the version read, again on 409) end at
// exactly 200, each one change in the outbox. Optimistic locking on real
// PostgreSQL through a labd process.
func TestFaultConcurrentWriters(t *testing.T) {
	t.Parallel()
	dbURL := servertest.PostgresURL(t)
	p := startLabd(t, "writers", dbURL, "--controller=false")
	base := "http://" + p.addr + "/api/lab-instances/"
	for _, name := range []string{"race", "counter"} {
		if r := rawDo("POST", base, "application/json", labBody(name, "labrm/busybox:test", nil)); r.status != http.StatusCreated {
			t.Fatalf("create %s: %d %s", name, r.status, r.body)
		}
	}
	get := func(name string) *api.LabInstanceRequest {
		r := rawDo("GET", base+name, "", "")
		var l api.LabInstanceRequest
		if r.status != http.StatusOK || json.Unmarshal(r.body, &l) != nil {
			t.Fatalf("get %s: %d %s", name, r.status, r.body)
		}
		return &l
	}

	// 50 writers, one version.
	l := get("race")
	start := make(chan struct{})
	results := make(chan int, 50)
	var wg sync.WaitGroup
	for i := range 50 {
		mine := l.DeepCopy()
		mine.Metadata.Labels = api.StringMap{"writer": strconv.Itoa(i)}
		body, _ := json.Marshal(mine)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results <- rawDo("PUT", base+"race", "application/json", string(body)).status
		}()
	}
	close(start)
	wg.Wait()
	close(results)
	count := map[int]int{}
	for s := range results {
		count[s]++
	}
	if count[http.StatusOK] != 1 || count[http.StatusConflict] != 49 {
		t.Fatalf("50 PUTs at version %d: %v, want one 200 and 49 409", l.Metadata.ResourceVersion, count)
	}

	// 200 increments by 20 writers.
	var failed sync.Map
	for w := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				for attempt := 0; ; attempt++ {
					if attempt > 500 {
						failed.Store(w, "too many conflicts")
						return
					}
					cur := get("counter")
					n, _ := strconv.Atoi(cur.Metadata.Labels["count"])
					cur.Metadata.Labels = api.StringMap{"count": strconv.Itoa(n + 1)}
					body, _ := json.Marshal(cur)
					r := rawDo("PUT", base+"counter", "application/json", string(body))
					if r.status == http.StatusOK {
						break
					}
					if r.status != http.StatusConflict {
						failed.Store(w, fmt.Sprintf("status %d: %s", r.status, r.body))
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	failed.Range(func(k, v any) bool { t.Errorf("writer %v: %v", k, v); return true })
	if got := get("counter").Metadata.Labels["count"]; got != "200" {
		t.Fatalf("after 200 increments the counter is %s", got)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{URL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	updates := 0
	for _, ev := range servertest.AllEvents(t, db) {
		if ev.Key.Name == "counter" && ev.Type == api.EventUpdated {
			updates++
		}
	}
	if updates != 200 {
		t.Fatalf("%d updated events for 200 increments", updates)
	}
}
