package servertest

import "testing"

// Unavailable skips a test whose service is missing, or fails it when
// CI=true: the one rule of this package, for helpers of other services
// (kubetest) to apply too.
func Unavailable(t testing.TB, service, format string, args ...any) {
	t.Helper()
	unavailable(t, service, format, args...)
}
