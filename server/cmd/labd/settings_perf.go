package main

import (
	"fmt"
	"net"
	"strconv"
)

// perfSettings tune throughput and expose labd's own profiles
// (server/pprof.go).
var perfSettings = []setting{
	{
		Flag: "start-concurrency", Env: "LAB_START_CONCURRENCY", Default: "16",
		Usage: "lab workloads started at once (create and start), apart from --workers, which decide",
		apply: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 256 {
				return fmt.Errorf("must be a number from 1 to 256")
			}
			c.StartConcurrency = n
			return nil
		},
	},
	{
		Flag: "pprof-listen", Env: "LAB_PPROF_LISTEN", Default: "",
		Usage: `serve Go's /debug/pprof/ profiles on this address ("" = off); a bare port or ":PORT" binds 127.0.0.1. Profiles show internals: keep them on loopback or behind a firewall`,
		apply: func(c *Config, v string) error {
			addr, err := pprofAddr(v)
			if err != nil {
				return err
			}
			c.PprofListen = addr
			return nil
		},
	},
}

// pprofAddr completes a profile address: off when empty, loopback unless a
// host is named.
func pprofAddr(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	if _, err := strconv.ParseUint(v, 10, 16); err == nil {
		return net.JoinHostPort("127.0.0.1", v), nil
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil || port == "" {
		return "", fmt.Errorf("must be a port or host:port, like 6060 or 127.0.0.1:6060")
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}
