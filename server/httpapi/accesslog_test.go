package httpapi_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/labrm/terraform-provider-lab/server/httpapi"
	"github.com/labrm/terraform-provider-lab/server/servertest"
)

// TestAccessLogLevels: a request that went well logs its line at debug
// level only; a failed one at warn, with its request id. Metrics count
// both (TestMetrics covers them).
func TestAccessLogLevels(t *testing.T) {
	t.Parallel()
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		var logs servertest.LogBuffer
		e := newEnv(t, brokenStore{}, func(c *httpapi.Config) {
			c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: level}))
		})
		e.do("GET", "/api/status/health", "", "X-Request-Id", "ok-1").want(t, http.StatusOK)
		e.do("GET", "/api/lab-instances/x", "", "X-Request-Id", "broken-1").want(t, http.StatusInternalServerError)
		var okLine, failLine string
		for _, line := range strings.Split(logs.String(), "\n") {
			if !strings.Contains(line, `"msg":"request"`) {
				continue
			}
			switch {
			case strings.Contains(line, `"request_id":"ok-1"`):
				okLine = line
			case strings.Contains(line, `"request_id":"broken-1"`):
				failLine = line
			}
		}
		if (okLine != "") != (level == slog.LevelDebug) {
			t.Errorf("level %s: line of a good request %q", level, okLine)
		}
		if okLine != "" && !strings.Contains(okLine, `"level":"DEBUG"`) {
			t.Errorf("good request logged as %s", okLine)
		}
		if !strings.Contains(failLine, `"level":"WARN"`) || !strings.Contains(failLine, `"status":500`) {
			t.Errorf("level %s: failed request's line %q", level, failLine)
		}
	}
}
