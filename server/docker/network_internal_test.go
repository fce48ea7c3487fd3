package docker

import (
	"testing"

	"github.com/labrm/terraform-provider-lab/server/workload"
)

// TestAppPort: the spec's port, else the image's only exposed TCP port,
// else none (a batch lab): several to choose from is none, too.
func TestAppPort(t *testing.T) {
	t.Parallel()
	set := func(ps ...string) map[string]struct{} {
		m := map[string]struct{}{}
		for _, p := range ps {
			m[p] = struct{}{}
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		spec    int
		exposed map[string]struct{}
		want    int
	}{
		{"spec wins", 9090, set("8080/tcp"), 9090},
		{"spec without exposed ports", 3000, nil, 3000},
		{"only exposed port", 0, set("8080/tcp"), 8080},
		{"only tcp port among udp", 0, set("53/udp", "8888/tcp"), 8888},
		{"no protocol means tcp", 0, set("80"), 80},
		{"none", 0, nil, 0},
		{"udp only", 0, set("53/udp"), 0},
		{"several: none chosen", 0, set("8080/tcp", "8888/tcp"), 0},
		{"garbage", 0, set("http/tcp"), 0},
	} {
		if got := appPort(workload.Spec{Port: tc.spec}, tc.exposed); got != tc.want {
			t.Errorf("%s: appPort = %d, want %d", tc.name, got, tc.want)
		}
	}
}
