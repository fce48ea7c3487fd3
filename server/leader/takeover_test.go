package leader_test

import (
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/server/leader"
	"github.com/labrm/terraform-provider-lab/server/servertest"
)

// TestStandbyTakesOverAtOnce, with the default timings (retry period 2s):
// a standby waits in the server's lock queue, so it leads within a second
// of the leader's session dying (a crash) and of a graceful release, not
// at its next try.
func TestStandbyTakesOverAtOnce(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.Postgres)
	var rs []*replica
	for _, id := range []string{"x", "y", "z"} {
		rs = append(rs, startReplicaConfig(t, db, leader.Config{Identity: id}))
	}
	servertest.Eventually(t, "a leader", 20*time.Second, func() bool { return len(leaders(rs)) == 1 })
	first := leaders(rs)[0]
	firstEpoch := first.terms[0].Epoch

	// A crash: the server ends the leader's session, which frees the lock.
	killed := time.Now()
	if n := servertest.TerminatePostgresSessions(t, db.PostgresURL(), "labd-leader:"+first.e.Identity()); n != 1 {
		t.Fatalf("terminated %d lock sessions, want 1", n)
	}
	var second *replica
	servertest.Eventually(t, "a standby to lead", 20*time.Second, func() bool {
		for _, r := range leaders(rs) {
			if r != first {
				second = r
				return true
			}
		}
		return false
	})
	if d := time.Since(killed); d > time.Second {
		t.Errorf("standby led %s after the leader's session died, want under 1s", d)
	}
	if second.terms[0].Epoch <= firstEpoch {
		t.Fatalf("new term %d not after %d", second.terms[0].Epoch, firstEpoch)
	}

	// A graceful stop: the lock is released and the last standby (the
	// first leader waits a lease before it campaigns again) takes it.
	stopped := time.Now()
	second.cancel()
	<-second.done
	servertest.Eventually(t, "the last standby to lead", 20*time.Second, func() bool {
		for _, r := range leaders(rs) {
			if r != first && r != second {
				return true
			}
		}
		return false
	})
	if d := time.Since(stopped); d > time.Second {
		t.Errorf("handover took %s after a graceful stop, want under 1s", d)
	}
}
