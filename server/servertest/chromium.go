package servertest

import (
	"os"
	"os/exec"
	"testing"
)

// Chromium returns the path of a Chromium to drive headless ($LAB_CHROMIUM,
// else chromium, chromium-browser or google-chrome on the PATH). Without
// one the test is skipped, or fails when CI=true (scripts/testenv.sh
// installs Debian's chromium).
func Chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("LAB_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	unavailable(t, "Chromium", "none on the PATH: apt-get install chromium, or run scripts/testenv.sh (make test does)")
	return ""
}
