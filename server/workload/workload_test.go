package runtime_test

import (
	"testing"

	"github.com/labrm/terraform-provider-lab/server/runtime"
)

func TestAccessURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		st   runtime.State
		want string
	}{
		{"one port", runtime.State{AccessHost: "localhost", Ports: map[string]string{"8080/tcp": "49153"}}, "http://localhost:49153"},
		{"lowest tcp port wins", runtime.State{AccessHost: "lab.example.edu", Ports: map[string]string{"8888/tcp": "2", "53/udp": "3", "8080/tcp": "1"}}, "http://lab.example.edu:1"},
		{"ipv6 host", runtime.State{AccessHost: "::1", Ports: map[string]string{"80/tcp": "32768"}}, "http://[::1]:32768"},
		{"nothing published", runtime.State{AccessHost: "localhost", Ports: map[string]string{"8080/tcp": ""}}, ""},
		{"udp only", runtime.State{AccessHost: "localhost", Ports: map[string]string{"53/udp": "5353"}}, ""},
		{"no host", runtime.State{Ports: map[string]string{"8080/tcp": "1"}}, ""},
	} {
		if got := tc.st.AccessURL(); got != tc.want {
			t.Errorf("%s: AccessURL() = %q, want %q", tc.name, got, tc.want)
		}
	}
}
