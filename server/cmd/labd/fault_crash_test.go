package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/internal/client"
	"github.com/labrm/terraform-provider-lab/server/eventsink"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// crashLab is what the crash-loop test knows of one lab it created.
type crashLab struct {
	name    string
	kind    string // run, done (exits 0), fail (exits 3)
	uid     string
	deleted bool
}

// TestFaultLeaderCrashLoop SIGKILLs the leader of three labd replicas ten
// times, at random moments, while labs are created and deleted through
// whichever replica answers; a new replica replaces each one killed. Then:
// every lab is in the phase its history implies (running, completed or
// failed as its workload did, through allowed transitions only), no
// container is left of a deleted lab, no lab has two containers, and
// every outbox effect happened exactly once (one created event per lab,
// one finalizer run per deleted lab, counted once, and every change
// delivered to the CloudEvents sink under its one stable id). It runs on
// each runtime (docker, kubernetes): a container there is a pod here.
func TestFaultLeaderCrashLoop(t *testing.T) {
	t.Parallel()
	eachRuntime(t, testLeaderCrashLoop)
}

func testLeaderCrashLoop(t *testing.T, rt *labRuntime) {
	image := rt.image
	dbURL := servertest.PostgresURL(t)
	rt.removeWorkloads(t, dbURL)
	sink := newCESink(t)
	extra := append([]string{"--cloudevents-sink=" + sink.srv.URL}, rt.flags...)

	var mu sync.Mutex
	live := []*proc{startLabd(t, "crash-1", dbURL, extra...), startLabd(t, "crash-2", dbURL, extra...), startLabd(t, "crash-3", dbURL, extra...)}
	pick := func() *proc {
		mu.Lock()
		defer mu.Unlock()
		return live[rand.IntN(len(live))]
	}

	// Load: labs created and some deleted, on any live replica.
	var labs []*crashLab
	stopLoad := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		kinds := []string{"run", "done", "fail"}
		for i := 0; ; i++ {
			select {
			case <-stopLoad:
				return
			case <-time.After(time.Duration(200+rand.IntN(300)) * time.Millisecond):
			}
			l := &crashLab{name: fmt.Sprintf("crash-%03d", i), kind: kinds[i%3]}
			env := map[string]string{}
			switch l.kind {
			case "done":
				env = map[string]string{"LAB_EXIT_AFTER": "2", "LAB_EXIT_CODE": "0"}
			case "fail":
				env = map[string]string{"LAB_EXIT_AFTER": "2", "LAB_EXIT_CODE": "3"}
			}
			acked := false
			for attempt := 0; attempt < 50 && !acked; attempt++ {
				r := rawDo("POST", "http://"+pick().addr+"/api/lab-instances/", "application/json", labBody(l.name, image, env))
				// A 409 is an earlier attempt whose answer was lost
				// with the replica that gave it.
				acked = r.status == http.StatusCreated || r.status == http.StatusConflict
				if !acked {
					time.Sleep(100 * time.Millisecond)
				}
			}
			if !acked {
				continue
			}
			labs = append(labs, l)
			// Delete every third lab a second or two after its
			// creation: most are being provisioned or run by then.
			if len(labs)%3 == 0 && len(labs) >= 6 {
				victim := labs[len(labs)-5]
				lost := false // an attempt whose answer was lost may have deleted it
				for attempt := 0; attempt < 50 && !victim.deleted; attempt++ {
					r := rawDo("DELETE", "http://"+pick().addr+"/api/lab-instances/"+victim.name, "", "")
					victim.deleted = r.status == http.StatusAccepted || r.status == http.StatusOK || (lost && r.status == http.StatusNotFound)
					lost = lost || r.err != nil || r.status >= 500
					if !victim.deleted {
						time.Sleep(100 * time.Millisecond)
					}
				}
			}
		}
	}()

	// Ten SIGKILLs of whoever leads, at random moments.
	kills := 0
	for kills < 10 {
		time.Sleep(time.Duration(300+rand.IntN(1200)) * time.Millisecond)
		var lead *proc
		servertest.Eventually(t, "a leader to kill", 30*time.Second, func() bool {
			mu.Lock()
			ps := append([]*proc(nil), live...)
			mu.Unlock()
			lead, _ = leaderOf(t, ps)
			return lead != nil
		})
		lead.cmd.Process.Signal(syscall.SIGKILL)
		<-lead.done
		kills++
		next := startLabd(t, fmt.Sprintf("crash-r%d", kills), dbURL, extra...)
		mu.Lock()
		live = append(without(live, lead), next)
		mu.Unlock()
	}
	close(stopLoad)
	<-loadDone
	t.Logf("%d SIGKILLs of the leader while %d labs were created (%d deleted)", kills, len(labs), countDeleted(labs))
	if len(labs) < 20 {
		t.Fatalf("only %d labs created under the crash loop", len(labs))
	}

	// Convergence: every lab in the phase its workload implies, every
	// deleted lab gone.
	ctx := context.Background()
	cl := pick().cl
	servertest.Eventually(t, "every lab to settle", 3*time.Minute, func() bool {
		for _, l := range labs {
			got, err := cl.Get(ctx, api.Key{Namespace: "default", Name: l.name})
			if l.deleted {
				if !api.IsNotFound(err) {
					return false
				}
				continue
			}
			if err != nil || got.Status.Phase != wantPhase(l.kind) {
				return false
			}
			l.uid = got.Metadata.UID
		}
		return true
	})
	for _, l := range labs {
		if l.deleted {
			continue
		}
		got, err := cl.Get(ctx, api.Key{Namespace: "default", Name: l.name})
		if err != nil {
			t.Fatal(err)
		}
		checkHistory(t, got)
		if l.kind == "fail" && got.Status.Transitions[len(got.Status.Transitions)-1].Reason != "ContainerFailed" {
			t.Errorf("%s: failed for %q", l.name, got.Status.Transitions[len(got.Status.Transitions)-1].Reason)
		}
	}

	// Containers: one at most per lab, none of a deleted lab, one running
	// for every RUNNING lab.
	ctrs := rt.workloads(t, dbURL)
	byUID := map[string]int{}
	for _, c := range ctrs {
		byUID[c.Labels[workload.LabelResourceUID]]++
	}
	db, err := store.Open(ctx, store.Config{URL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	events := servertest.AllEvents(t, db)
	uidOf := map[string]string{} // name -> uid, from the outbox (deleted labs too)
	created, finalized, deletedEv := map[string]int{}, map[string]int{}, map[string]int{}
	for _, ev := range events {
		switch ev.Type {
		case api.EventCreated:
			created[ev.UID]++
			uidOf[ev.Key.Name] = ev.UID
		case api.EventFinalized:
			finalized[ev.UID]++
		case api.EventDeleted:
			deletedEv[ev.UID]++
		}
	}
	for uid, n := range byUID {
		if n > 1 {
			t.Errorf("lab %s has %d containers", uid, n)
		}
	}
	finalizerRuns := 0
	for _, l := range labs {
		uid := uidOf[l.name]
		if uid == "" {
			t.Errorf("%s: no created event", l.name)
			continue
		}
		if created[uid] != 1 {
			t.Errorf("%s: %d created events", l.name, created[uid])
		}
		if l.deleted {
			// A lab deleted before any leader gave it the finalizer goes
			// at once (no workload was ever made); one that had it goes
			// through exactly one finalizer run.
			finalizerRuns += finalized[uid]
			if byUID[uid] != 0 {
				t.Errorf("deleted lab %s still has a container", l.name)
			}
			if finalized[uid] > 1 || deletedEv[uid] != 1 {
				t.Errorf("deleted lab %s: %d finalized and %d deleted events, want at most 1 and exactly 1", l.name, finalized[uid], deletedEv[uid])
			}
		} else if l.kind == "run" && byUID[uid] != 1 {
			t.Errorf("running lab %s has %d containers", l.name, byUID[uid])
		}
	}
	counters, err := db.Counters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counters["finalizers_completed"] != int64(finalizerRuns) || finalizerRuns == 0 {
		t.Errorf("finalizers_completed = %d, want one per finalized event (%d)", counters["finalizers_completed"], finalizerRuns)
	}
	t.Logf("%d deleted labs, %d through the finalizer", countDeleted(labs), finalizerRuns)
	// CloudEvents: every change delivered, each under its one id.
	inst, err := db.InstallationID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, ev := range events {
		want[eventsink.EventID(inst, ev.ID)] = true
	}
	servertest.Eventually(t, "every change delivered to the CloudEvents sink", time.Minute, func() bool {
		got := sink.received()
		for id := range want {
			if got[id] == 0 {
				return false
			}
		}
		return true
	})
	redelivered := 0
	for id, n := range sink.received() {
		if !want[id] {
			t.Errorf("the sink received %s, which is no outbox event", id)
		}
		redelivered += n - 1
	}
	t.Logf("%d outbox events, all delivered; %d redeliveries (at least once, same id)", len(want), redelivered)

	// Clean up through the API: the finalizers still work after all that.
	for _, l := range labs {
		if !l.deleted {
			if _, _, err := cl.Delete(ctx, api.Key{Namespace: "default", Name: l.name}); err != nil && !api.IsNotFound(err) {
				t.Fatal(err)
			}
		}
	}
	servertest.Eventually(t, "every lab deleted", 2*time.Minute, func() bool {
		list, err := cl.List(ctx, client.ListOptions{})
		return err == nil && len(list.Items) == 0
	})
	if left := rt.workloads(t, dbURL); len(left) != 0 {
		t.Fatalf("%d containers left after every lab was deleted", len(left))
	}
}

func countDeleted(labs []*crashLab) int {
	n := 0
	for _, l := range labs {
		if l.deleted {
			n++
		}
	}
	return n
}

func wantPhase(kind string) api.Phase {
	switch kind {
	case "done":
		return api.PhaseCompleted
	case "fail":
		return api.PhaseFailed
	}
	return api.PhaseRunning
}

// checkHistory: the recorded transitions lead from PENDING to the phase,
// each one allowed, none twice.
func checkHistory(t *testing.T, l *api.LabInstanceRequest) {
	t.Helper()
	phase := api.PhasePending
	seen := map[string]bool{}
	for _, tr := range l.Status.Transitions {
		key := string(tr.From) + ">" + string(tr.To)
		if tr.From != phase || api.CheckTransition(tr.From, tr.To) != nil || seen[key] {
			b, _ := json.Marshal(l.Status.Transitions)
			t.Errorf("%s: history %s is not a path of allowed transitions", l.Metadata.Name, b)
			return
		}
		seen[key] = true
		phase = tr.To
	}
	if phase != l.Status.Phase {
		t.Errorf("%s: history ends at %s, phase is %s", l.Metadata.Name, phase, l.Status.Phase)
	}
}
