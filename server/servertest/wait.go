package servertest

import (
	"testing"
	"time"
)

// Eventually polls cond until it holds, and fails the test, saying what
// it waited for, if it does not within timeout: every wait in a test is
// bounded.
func Eventually(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
