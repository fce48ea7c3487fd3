package servertest

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// Eventually polls cond until it holds and returns how long that took; it
// fails the test, saying what it waited for, if cond does not hold within
// timeout: every wait in a test is bounded. It polls every 10ms, so that
// tests that measure latency are not dominated by the poll.
func Eventually(t testing.TB, what string, timeout time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// LogBuffer is a bytes.Buffer that a logger on other goroutines and the
// test can share: tests assert on what was logged (and on what never was,
// such as secrets).
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *LogBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *LogBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
