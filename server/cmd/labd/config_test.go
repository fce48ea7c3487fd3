package main

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/server"
	"github.com/labrm/terraform-provider-lab/server/httpapi"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := parseConfig(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	want := Config{Config: server.Config{DatabaseURL: "", InstanceID: host, Listen: "127.0.0.1:8000", ShutdownTimeout: 30 * time.Second,
		Controller: true, AccessHost: "localhost", Workers: 4, ProvisionTimeout: 5 * time.Minute, StopTimeout: 10 * time.Second,
		ProbeInterval: 10 * time.Second, ResyncPeriod: 5 * time.Minute, OutboxRetention: 24 * time.Hour,
		LockName: "lab-instance-controller-leader", LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		StartConcurrency: 16},
		LogFormat: "text", LogLevel: slog.LevelInfo}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("defaults %+v, want %+v", cfg, want)
	}
}

// TestConfigPrecedence checks every setting: flag beats environment beats
// default.
func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	values := map[string][2]string{ // flag value, env value
		"database-url":      {"postgres://u@db-flag:5432/labs", "sqlite:/var/lib/labd/env.db"},
		"instance-id":       {"flag-1", "env-1"},
		"listen":            {":9000", "0.0.0.0:7000"},
		"docker-host":       {"tcp://flag:2375", "unix:///env.sock"},
		"log-format":        {"json", "text"},
		"log-level":         {"debug", "warn"},
		"shutdown-timeout":  {"5s", "7s"},
		"controller":        {"false", "true"},
		"access-host":       {"labs.flag.edu", "labs.env.edu"},
		"publish-ip":        {"127.0.0.1", "10.0.0.1"},
		"capacity-cpu":      {"8", "1500m"},
		"capacity-memory":   {"32Gi", "512Mi"},
		"workers":           {"9", "3"},
		"provision-timeout": {"1m", "2m"},
		"stop-timeout":      {"3s", "4s"},
		"probe-interval":    {"1s", "2s"},
		"resync-period":     {"1m", "2m"},
		"outbox-retention":  {"1h", "2h"},
		"lock-name":         {"flag-lock", "env-lock"},
		"lease-duration":    {"30s", "20s"},
		"renew-deadline":    {"20s", "12s"},
		"retry-period":      {"4s", "3s"},
		"api-token-file":    {tokenFile(t, "rw:"+flagToken), tokenFile(t, "ro:"+envToken)},
		"metrics-auth":      {"true", "false"},
		"insecure-no-auth":  {"false", "true"},
		"cloudevents-sink":  {"https://hooks.flag.edu/labs", "http://a.env.edu/x,http://b.env.edu/y"},
		"pprof-listen":      {"6061", "127.0.0.1:6062"},
		"start-concurrency": {"5", "7"},
	}
	if len(values) != len(settings) {
		t.Fatalf("test covers %d settings, there are %d", len(values), len(settings))
	}
	environ := map[string]string{}
	var args []string
	for _, s := range settings {
		v, ok := values[s.Flag]
		if !ok {
			t.Fatalf("setting %s not covered", s.Flag)
		}
		environ[s.Env] = v[1]
		args = append(args, "--"+s.Flag+"="+v[0])
	}
	fromEnv, err := parseConfig(nil, env(environ), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Config: server.Config{DatabaseURL: "sqlite:/var/lib/labd/env.db", InstanceID: "env-1", Listen: "0.0.0.0:7000", DockerHost: "unix:///env.sock",
		ShutdownTimeout: 7 * time.Second, Controller: true, AccessHost: "labs.env.edu", PublishIP: "10.0.0.1", CapacityCPU: 1500, CapacityMemory: 512 << 20, Workers: 3,
		ProvisionTimeout: 2 * time.Minute, StopTimeout: 4 * time.Second, ProbeInterval: 2 * time.Second, ResyncPeriod: 2 * time.Minute,
		OutboxRetention: 2 * time.Hour, LockName: "env-lock", LeaseDuration: 20 * time.Second, RenewDeadline: 12 * time.Second, RetryPeriod: 3 * time.Second},
		LogFormat: "text", LogLevel: slog.LevelWarn}
	if role, ok := fromEnv.APITokens.Authenticate(envToken); !ok || role != httpapi.ReadOnly {
		t.Fatalf("from env: token file %s not loaded", fromEnv.APITokenFile)
	}
	fromEnv.APITokens = nil
	want.APITokenFile, want.InsecureNoAuth = values["api-token-file"][1], true
	want.CloudEventsSinks = []string{"http://a.env.edu/x", "http://b.env.edu/y"}
	want.PprofListen, want.StartConcurrency = "127.0.0.1:6062", 7
	if !reflect.DeepEqual(fromEnv, want) {
		t.Fatalf("from env %+v, want %+v", fromEnv, want)
	}
	fromFlags, err := parseConfig(args, env(environ), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want = Config{Config: server.Config{DatabaseURL: "postgres://u@db-flag:5432/labs", InstanceID: "flag-1", Listen: ":9000", DockerHost: "tcp://flag:2375",
		ShutdownTimeout: 5 * time.Second, Controller: false, AccessHost: "labs.flag.edu", PublishIP: "127.0.0.1", CapacityCPU: 8000, CapacityMemory: 32 << 30, Workers: 9,
		ProvisionTimeout: time.Minute, StopTimeout: 3 * time.Second, ProbeInterval: time.Second, ResyncPeriod: time.Minute,
		OutboxRetention: time.Hour, LockName: "flag-lock", LeaseDuration: 30 * time.Second, RenewDeadline: 20 * time.Second, RetryPeriod: 4 * time.Second},
		LogFormat: "json", LogLevel: slog.LevelDebug}
	if _, ok := fromFlags.APITokens.Authenticate(flagToken); !ok {
		t.Fatalf("from flags: token file %s not loaded", fromFlags.APITokenFile)
	}
	if _, ok := fromFlags.APITokens.Authenticate(envToken); ok {
		t.Fatal("from flags: the environment's token file was loaded too")
	}
	fromFlags.APITokens = nil
	want.APITokenFile, want.MetricsAuth = values["api-token-file"][0], true
	want.CloudEventsSinks = []string{"https://hooks.flag.edu/labs"}
	want.PprofListen, want.StartConcurrency = "127.0.0.1:6061", 5
	if !reflect.DeepEqual(fromFlags, want) {
		t.Fatalf("from flags %+v, want %+v", fromFlags, want)
	}
	// A repeated flag collects every value.
	cfg, err := parseConfig([]string{"--cloudevents-sink=http://one.edu/a", "--cloudevents-sink", "http://two.edu/b"}, env(nil), io.Discard)
	if err != nil || !reflect.DeepEqual(cfg.CloudEventsSinks, []string{"http://one.edu/a", "http://two.edu/b"}) {
		t.Fatalf("repeated sink flag: %v, %v", cfg.CloudEventsSinks, err)
	}
	// An explicit empty flag beats the environment too.
	cfg, err = parseConfig([]string{"--database-url="}, env(environ), io.Discard)
	if err != nil || cfg.DatabaseURL != "" {
		t.Fatalf("empty flag: %q, %v", cfg.DatabaseURL, err)
	}
}

func TestConfigRejects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args    []string
		environ map[string]string
		want    []string // substrings of the error
	}{
		{[]string{"--listen=8000"}, nil, []string{"--listen", `"8000"`, "host:port"}},
		{nil, map[string]string{"LAB_LISTEN": "nowhere"}, []string{"$LAB_LISTEN", "host:port"}},
		{[]string{"--database-url=mysql://x"}, nil, []string{"--database-url", "postgres://"}},
		{nil, map[string]string{"LAB_DATABASE_URL": "postgres://"}, []string{"$LAB_DATABASE_URL"}},
		{[]string{"--log-format=xml"}, nil, []string{"--log-format", "text or json"}},
		{[]string{"--log-level=loud"}, nil, []string{"--log-level"}},
		{[]string{"--shutdown-timeout=-1s"}, nil, []string{"--shutdown-timeout"}},
		{[]string{"--instance-id=a b"}, nil, []string{"--instance-id"}},
		{[]string{"--docker-host=not a url"}, nil, []string{"--docker-host"}},
		{[]string{"--capacity-cpu=lots"}, nil, []string{"--capacity-cpu"}},
		{[]string{"--capacity-memory=2GB"}, nil, []string{"--capacity-memory"}},
		{nil, map[string]string{"LAB_WORKERS": "0"}, []string{"$LAB_WORKERS"}},
		{[]string{"--controller=maybe"}, nil, []string{"--controller", "true or false"}},
		{[]string{"--publish-ip=localhost"}, nil, []string{"--publish-ip"}},
		{[]string{"--retry-period=0s"}, nil, []string{"--retry-period"}},
		{[]string{"--cloudevents-sink=ftp://x/y"}, nil, []string{"--cloudevents-sink"}},
		{[]string{"--no-such-flag"}, nil, []string{"no-such-flag"}},
		{[]string{"serve"}, nil, []string{"unexpected arguments"}},
		// Several errors are reported together.
		{[]string{"--listen=x", "--log-format=y"}, nil, []string{"--listen", "--log-format"}},
	}
	for _, tc := range cases {
		_, err := parseConfig(tc.args, env(tc.environ), io.Discard)
		if err == nil {
			t.Errorf("%v %v: accepted", tc.args, tc.environ)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v %v: error %q lacks %q", tc.args, tc.environ, err, w)
			}
		}
	}
}

func TestVersionAndHelp(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	if err := Run(t.Context(), []string{"--version"}, env(nil), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if out.String() != "labd "+version+"\n" {
		t.Fatalf("--version printed %q", out.String())
	}
	var usage strings.Builder
	err := Run(t.Context(), []string{"--help"}, env(nil), io.Discard, &usage)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, s := range settings {
		if !strings.Contains(usage.String(), "-"+s.Flag) || !strings.Contains(usage.String(), "$"+s.Env) {
			t.Errorf("usage lacks %s / $%s:\n%s", s.Flag, s.Env, usage.String())
		}
	}
	var ce configError
	if err := Run(t.Context(), []string{"--listen=bad"}, env(nil), io.Discard, io.Discard); !errors.As(err, &ce) {
		t.Fatalf("bad flag: %v, want a configError", err)
	}
}
