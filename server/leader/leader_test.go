package leader_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/leader"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
)

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  leader.Config
		want string
	}{
		{leader.Config{LeaseDuration: 10 * time.Second, RenewDeadline: 10 * time.Second}, "lease_duration"},
		{leader.Config{RenewDeadline: 2 * time.Second, RetryPeriod: 2 * time.Second}, "renew_deadline"},
		{leader.Config{}, ""},
	} {
		_, err := leader.New(nil, tc.cfg)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("New(%+v) = %v, want error about %q", tc.cfg, err, tc.want)
		}
	}
}

// replica is one elector with a Lead func that records its terms.
type replica struct {
	e      *leader.Elector
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	leading bool
	terms   []store.Term
	stopped int
}

func (r *replica) isLeading() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.leading
}

func startReplica(t *testing.T, db *store.DB, id string) *replica {
	t.Helper()
	return startReplicaConfig(t, db, leader.Config{Identity: id, LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 200 * time.Millisecond})
}

// startReplicaConfig runs an elector with cfg whose work records its terms.
func startReplicaConfig(t *testing.T, db *store.DB, cfg leader.Config) *replica {
	t.Helper()
	r := &replica{done: make(chan struct{})}
	var err error
	cfg.Lead = func(ctx context.Context, term store.Term) error {
		r.mu.Lock()
		r.leading = true
		r.terms = append(r.terms, term)
		r.mu.Unlock()
		<-ctx.Done()
		r.mu.Lock()
		r.leading = false
		r.stopped++
		r.mu.Unlock()
		return nil
	}
	r.e, err = leader.New(db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { defer close(r.done); r.e.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

func leaders(rs []*replica) []*replica {
	var out []*replica
	for _, r := range rs {
		if r.isLeading() {
			out = append(out, r)
		}
	}
	return out
}

func TestExactlyOneLeaderAndHandover(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.Postgres)
	rs := []*replica{startReplica(t, db, "r1"), startReplica(t, db, "r2"), startReplica(t, db, "r3")}
	servertest.Eventually(t, "a leader", 20*time.Second, func() bool { return len(leaders(rs)) == 1 })
	// Stays exactly one over several retry periods.
	for range 10 {
		if n := len(leaders(rs)); n != 1 {
			t.Fatalf("%d leaders", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	first := leaders(rs)[0]
	ctx := context.Background()
	st, err := first.e.Status(ctx)
	if err != nil || !st.IsLeader || st.Leader != first.e.Identity() || st.Epoch != first.terms[0].Epoch || st.LeaderSince == nil {
		t.Fatalf("leader's status = %+v (%v)", st, err)
	}
	for _, r := range rs {
		if r == first {
			continue
		}
		st, err := r.e.Status(ctx)
		if err != nil || st.IsLeader || st.Leader != first.e.Identity() || st.Identity != r.e.Identity() {
			t.Fatalf("standby's status = %+v (%v)", st, err)
		}
	}
	// Graceful stop hands over quickly: the lock is released, not expired.
	stoppedAt := time.Now()
	first.cancel()
	<-first.done
	servertest.Eventually(t, "a new leader", 20*time.Second, func() bool { return len(leaders(rs)) == 1 })
	if d := time.Since(stoppedAt); d > 2*time.Second {
		t.Errorf("handover took %s, want about one retry period", d)
	}
	next := leaders(rs)[0]
	if next.terms[0].Epoch <= first.terms[0].Epoch {
		t.Fatalf("new term %d not after %d", next.terms[0].Epoch, first.terms[0].Epoch)
	}
	if first.e.Changes() != 2 {
		t.Fatalf("first replica counted %d leadership changes, want 2", first.e.Changes())
	}
}

// TestLostLockSessionStopsLeader kills the leader's lock session on the
// server: the leader must stop its work (the heartbeat sees the lock gone),
// another replica must take over, and the old term can no longer write.
func TestLostLockSessionStopsLeader(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.Postgres)
	rs := []*replica{startReplica(t, db, "a"), startReplica(t, db, "b")}
	servertest.Eventually(t, "a leader", 20*time.Second, func() bool { return len(leaders(rs)) == 1 })
	old := leaders(rs)[0]
	oldTerm := old.terms[0]
	ctx := context.Background()
	if n := servertest.TerminatePostgresSessions(t, db.PostgresURL(), "labd-leader:"+old.e.Identity()); n != 1 {
		t.Fatalf("terminated %d lock sessions, want 1", n)
	}
	servertest.Eventually(t, "the old leader to stop", 20*time.Second, func() bool {
		old.mu.Lock()
		defer old.mu.Unlock()
		return old.stopped >= 1
	})
	servertest.Eventually(t, "a new term", 20*time.Second, func() bool {
		for _, r := range leaders(rs) {
			r.mu.Lock()
			last := r.terms[len(r.terms)-1]
			r.mu.Unlock()
			if last.Epoch > oldTerm.Epoch {
				return true
			}
		}
		return false
	})
	l, err := db.CreateLab(ctx, &api.LabInstanceRequest{Metadata: api.ObjectMeta{Name: "x", Namespace: "default"},
		Spec: api.Spec{LabTemplate: "busybox", StudentEmail: "s@u.edu", DurationMinutes: 1}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.UpdateLab(ctx, l.Key(), store.WriteOptions{Fence: oldTerm.Epoch}, func(x *api.LabInstanceRequest) error {
		x.Metadata.AddFinalizer(api.Finalizer)
		return nil
	})
	if api.ErrorCode(err) != api.EFENCED {
		t.Fatalf("write under the lost term: %v, want fenced", err)
	}
}

// TestLeaseWaitAfterLoss: a replica that lost its lock against its will
// waits a lease before campaigning again, even with no one else to take
// over, then leads under a new term.
func TestLeaseWaitAfterLoss(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.Postgres)
	r := startReplica(t, db, "alone")
	servertest.Eventually(t, "leadership", 20*time.Second, r.isLeading)
	if n := servertest.TerminatePostgresSessions(t, db.PostgresURL(), "labd-leader:alone"); n != 1 {
		t.Fatalf("terminated %d lock sessions, want 1", n)
	}
	servertest.Eventually(t, "the leader to stop", 20*time.Second, func() bool { return !r.isLeading() })
	stoppedAt := time.Now()
	servertest.Eventually(t, "leadership again", 20*time.Second, r.isLeading)
	// 3s lease; the slack covers polling. A retry period would be 200ms.
	if d := time.Since(stoppedAt); d < 2500*time.Millisecond {
		t.Errorf("campaigned again after %s, want about the 3s lease", d)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.terms) != 2 || r.terms[1].Epoch <= r.terms[0].Epoch {
		t.Fatalf("terms %+v, want a second, newer one", r.terms)
	}
}

func TestSQLiteAlwaysLeads(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.SQLite)
	r := startReplica(t, db, "solo")
	servertest.Eventually(t, "leadership", 20*time.Second, r.isLeading)
	st, err := r.e.Status(context.Background())
	if err != nil || !st.IsLeader || st.Leader != "solo" || st.Epoch < 1 {
		t.Fatalf("status = %+v (%v)", st, err)
	}
}
