package reconcile

import (
	"sync"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// seen remembers, per lab, the newest version the controller has already
// decided on, so that the outbox event of that version does not queue
// the lab once more for the same decision. Most events are the
// controller's own writes: without this, each write cost a second
// reconcile that decided nothing (a quarter of the reconciles of a
// 20,000-lab backlog).
//
// A version counts as decided on when a reconcile read it, or when a
// reconcile wrote it and has already arranged what comes next: it asked
// to run again at once (Result.Requeue), or the lab waits for a wake-up
// from the admission ledger (decided). A version written by a reconcile
// that returned without either is not marked: its event is what runs the
// next step (an ended lab's clean-up), as before. Only queueing is
// skipped; the admission ledger observes every event.
type seen struct {
	mu      sync.Mutex
	decided map[api.Key]int64 // newest version decided on
	wrote   map[api.Key]int64 // written by the reconcile in progress
}

func newSeen() *seen {
	return &seen{decided: map[api.Key]int64{}, wrote: map[api.Key]int64{}}
}

// read records that a reconcile is deciding on version v of key.
func (s *seen) read(key api.Key, v int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.decided[key] = max(s.decided[key], v)
}

// written records that the reconcile in progress for key wrote version v.
func (s *seen) written(key api.Key, v int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wrote[key] = v
}

// settle marks what the reconcile in progress for key wrote as decided
// on; done forgets it without marking it.
func (s *seen) settle(key api.Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.wrote[key]; ok {
		s.decided[key] = max(s.decided[key], v)
		delete(s.wrote, key)
	}
}

func (s *seen) done(key api.Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.wrote, key)
}

// has reports whether version v of key was decided on already.
func (s *seen) has(key api.Key, v int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.decided[key]
	return ok && v <= d
}

// forget drops key (its lab was deleted).
func (s *seen) forget(key api.Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.decided, key)
	delete(s.wrote, key)
}
