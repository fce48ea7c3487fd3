package reconcile

import (
	"testing"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

func TestSeen(t *testing.T) {
	t.Parallel()
	k := api.Key{Namespace: "default", Name: "a"}
	s := newSeen()
	if s.has(k, 1) {
		t.Fatal("an unknown lab counts as decided on")
	}
	s.read(k, 10)
	if !s.has(k, 10) || !s.has(k, 9) || s.has(k, 11) {
		t.Fatal("a version read is decided on; a newer one is not")
	}
	// A write whose reconcile arranged nothing (an ended lab's clean-up
	// runs from its event): not marked.
	s.written(k, 12)
	s.done(k)
	if s.has(k, 12) {
		t.Fatal("a write its reconcile did not settle counts as decided on")
	}
	// A write its reconcile settled (Requeue, or waiting for the ledger).
	s.written(k, 14)
	s.settle(k)
	s.done(k)
	if !s.has(k, 14) {
		t.Fatal("a settled write does not count as decided on")
	}
	// An older read does not move it back.
	s.read(k, 13)
	if !s.has(k, 14) {
		t.Fatal("an older read undid a newer decision")
	}
	// settle without a write marks nothing new.
	s.settle(k)
	if s.has(k, 15) {
		t.Fatal("settle without a write marked a version")
	}
	s.forget(k)
	if s.has(k, 1) {
		t.Fatal("a deleted lab is still remembered")
	}
}
