package main

import "testing"

func TestPprofAddr(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"": "", "6060": "127.0.0.1:6060", ":6060": "127.0.0.1:6060",
		"0.0.0.0:6060": "0.0.0.0:6060", "[::1]:7000": "[::1]:7000",
	} {
		if got, err := pprofAddr(in); err != nil || got != want {
			t.Errorf("pprofAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"localhost", "host:", "99999"} {
		if _, err := pprofAddr(bad); err == nil {
			t.Errorf("pprofAddr(%q) accepted", bad)
		}
	}
}
