package main

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"reflect"
	"slices"
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
		Controller: true, AccessHost: "localhost", LabNetwork: "labd-labs", PublishIP: "127.0.0.1", Workers: 4, ProvisionTimeout: 5 * time.Minute, StopTimeout: 10 * time.Second,
		ProbeInterval: 10 * time.Second, ResyncPeriod: 5 * time.Minute, OutboxRetention: 24 * time.Hour,
		LockName: "lab-instance-controller-leader", LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		Runtime: "docker", Kubernetes: server.KubernetesConfig{Namespace: "labs", WorkspaceSize: "1Gi", NodeLostTimeout: time.Minute, ImagePullPolicy: "IfNotPresent"},
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
		"database-url":                  {"postgres://u@db-flag:5432/labs", "sqlite:/var/lib/labd/env.db"},
		"instance-id":                   {"flag-1", "env-1"},
		"listen":                        {":9000", "0.0.0.0:7000"},
		"docker-host":                   {"tcp://flag:2375", "unix:///env.sock"},
		"log-format":                    {"json", "text"},
		"log-level":                     {"debug", "warn"},
		"shutdown-timeout":              {"5s", "7s"},
		"controller":                    {"false", "true"},
		"access-host":                   {"labs.flag.edu", "labs.env.edu:8443"},
		"access-scheme":                 {"http", "https"},
		"gateway-listen":                {"127.0.0.1:8001", ":8443"},
		"gateway-domain":                {"labs.flag.edu", "Labs.Env.Edu"},
		"lab-network":                   {"flag-net", "env_net"},
		"publish-ports":                 {"false", "true"},
		"publish-ip":                    {"127.0.0.1", "10.0.0.1"},
		"tls-cert-file":                 {"/flag/cert.pem", "/env/cert.pem"},
		"tls-key-file":                  {"/flag/key.pem", "/env/key.pem"},
		"capacity-cpu":                  {"8", "1500m"},
		"capacity-memory":               {"32Gi", "512Mi"},
		"workers":                       {"9", "3"},
		"provision-timeout":             {"1m", "2m"},
		"stop-timeout":                  {"3s", "4s"},
		"probe-interval":                {"1s", "2s"},
		"resync-period":                 {"1m", "2m"},
		"outbox-retention":              {"1h", "2h"},
		"lock-name":                     {"flag-lock", "env-lock"},
		"lease-duration":                {"30s", "20s"},
		"renew-deadline":                {"20s", "12s"},
		"retry-period":                  {"4s", "3s"},
		"api-token-file":                {tokenFile(t, "rw:"+flagToken), tokenFile(t, "ro:"+envToken)},
		"metrics-auth":                  {"true", "false"},
		"insecure-no-auth":              {"false", "true"},
		"cloudevents-sink":              {"https://hooks.flag.edu/labs", "http://a.env.edu/x,http://b.env.edu/y"},
		"allowed-images":                {"registry.flag.edu/*", "python:*,registry.env.edu/labs/*"},
		"lab-run-as-user":               {"1001", "2002"},
		"lab-read-only-root-filesystem": {"true", "false"},
		"runtime":                       {"kubernetes", "docker"},
		"kubeconfig":                    {"/flag/kubeconfig", "/env/kubeconfig"},
		"kubernetes-namespace":          {"flag-labs", "env-labs"},
		"kubernetes-storage-class":      {"fast.flag.edu", "standard"},
		"kubernetes-workspace-size":     {"5Gi", "500Mi"},
		"kubernetes-node-lost-timeout":  {"30s", "2m"},
		"kubernetes-node-selector":      {"labrm.io/pool=labs", "zone=a,disk=ssd"},
		"kubernetes-tolerations":        {"dedicated=labs:NoSchedule", "spot,labrm.io/gpu:NoExecute"},
		"kubernetes-image-pull-policy":  {"Always", "Never"},
		"pprof-listen":                  {"6061", "127.0.0.1:6062"},
		"start-concurrency":             {"5", "7"},
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
		ShutdownTimeout: 7 * time.Second, Controller: true, AccessHost: "labs.env.edu:8443", AccessScheme: "https", GatewayListen: ":8443",
		GatewayDomain: "labs.env.edu", LabNetwork: "env_net", PublishPorts: true, PublishIP: "10.0.0.1", TLSCertFile: "/env/cert.pem", TLSKeyFile: "/env/key.pem",
		CapacityCPU: 1500, CapacityMemory: 512 << 20, Workers: 3,
		ProvisionTimeout: 2 * time.Minute, StopTimeout: 4 * time.Second, ProbeInterval: 2 * time.Second, ResyncPeriod: 2 * time.Minute,
		OutboxRetention: 2 * time.Hour, LockName: "env-lock", LeaseDuration: 20 * time.Second, RenewDeadline: 12 * time.Second, RetryPeriod: 3 * time.Second,
		Runtime: "docker", Kubernetes: server.KubernetesConfig{Kubeconfig: "/env/kubeconfig", Namespace: "env-labs", StorageClass: "standard",
			WorkspaceSize: "500Mi", NodeLostTimeout: 2 * time.Minute, NodeSelector: "zone=a,disk=ssd", Tolerations: "spot,labrm.io/gpu:NoExecute", ImagePullPolicy: "Never"}},
		LogFormat: "text", LogLevel: slog.LevelWarn}
	if role, ok := fromEnv.APITokens.Authenticate(envToken); !ok || role != httpapi.ReadOnly {
		t.Fatalf("from env: token file %s not loaded", fromEnv.APITokenFile)
	}
	fromEnv.APITokens = nil
	want.APITokenFile, want.InsecureNoAuth = values["api-token-file"][1], true
	want.CloudEventsSinks = []string{"http://a.env.edu/x", "http://b.env.edu/y"}
	envUser, flagUser := int64(2002), int64(1001)
	want.AllowedImages, want.LabRunAsUser = []string{"python:*", "registry.env.edu/labs/*"}, &envUser
	want.PprofListen, want.StartConcurrency = "127.0.0.1:6062", 7
	if !reflect.DeepEqual(fromEnv, want) {
		t.Fatalf("from env %+v, want %+v", fromEnv, want)
	}
	fromFlags, err := parseConfig(args, env(environ), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want = Config{Config: server.Config{DatabaseURL: "postgres://u@db-flag:5432/labs", InstanceID: "flag-1", Listen: ":9000", DockerHost: "tcp://flag:2375",
		ShutdownTimeout: 5 * time.Second, Controller: false, AccessHost: "labs.flag.edu", AccessScheme: "http", GatewayListen: "127.0.0.1:8001",
		GatewayDomain: "labs.flag.edu", LabNetwork: "flag-net", PublishIP: "127.0.0.1", TLSCertFile: "/flag/cert.pem", TLSKeyFile: "/flag/key.pem",
		CapacityCPU: 8000, CapacityMemory: 32 << 30, Workers: 9,
		ProvisionTimeout: time.Minute, StopTimeout: 3 * time.Second, ProbeInterval: time.Second, ResyncPeriod: time.Minute,
		OutboxRetention: time.Hour, LockName: "flag-lock", LeaseDuration: 30 * time.Second, RenewDeadline: 20 * time.Second, RetryPeriod: 4 * time.Second,
		Runtime: "kubernetes", Kubernetes: server.KubernetesConfig{Kubeconfig: "/flag/kubeconfig", Namespace: "flag-labs", StorageClass: "fast.flag.edu",
			WorkspaceSize: "5Gi", NodeLostTimeout: 30 * time.Second, NodeSelector: "labrm.io/pool=labs", Tolerations: "dedicated=labs:NoSchedule", ImagePullPolicy: "Always"}},
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
	want.AllowedImages, want.LabRunAsUser, want.LabReadOnlyRootFilesystem = []string{"registry.flag.edu/*"}, &flagUser, true
	want.PprofListen, want.StartConcurrency = "127.0.0.1:6061", 5
	if !reflect.DeepEqual(fromFlags, want) {
		t.Fatalf("from flags %+v, want %+v", fromFlags, want)
	}
	// A repeated flag collects every value.
	cfg, err := parseConfig([]string{"--cloudevents-sink=http://one.edu/a", "--cloudevents-sink", "http://two.edu/b"}, env(nil), io.Discard)
	if err != nil || !reflect.DeepEqual(cfg.CloudEventsSinks, []string{"http://one.edu/a", "http://two.edu/b"}) {
		t.Fatalf("repeated sink flag: %v, %v", cfg.CloudEventsSinks, err)
	}
	// Repeated tolerations collect, like the variable's commas.
	cfg, err = parseConfig([]string{"--kubernetes-tolerations=a:NoSchedule", "--kubernetes-tolerations", "b"}, env(nil), io.Discard)
	if err != nil || cfg.Kubernetes.Tolerations != "a:NoSchedule,b" {
		t.Fatalf("repeated tolerations: %q, %v", cfg.Kubernetes.Tolerations, err)
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
		{[]string{"--publish-ip=0.0.0.0"}, nil, []string{"--publish-ip", "every interface"}},
		{nil, map[string]string{"LAB_PUBLISH_IP": "::"}, []string{"$LAB_PUBLISH_IP", "every interface"}},
		{[]string{"--access-scheme=ftp"}, nil, []string{"--access-scheme", "http or https"}},
		{[]string{"--access-host=https://labs.edu/"}, nil, []string{"--access-host"}},
		{[]string{"--access-host=labs.edu:99999"}, nil, []string{"--access-host"}},
		{[]string{"--gateway-domain=.labs.edu"}, nil, []string{"--gateway-domain", "DNS name"}},
		{[]string{"--gateway-listen=8443"}, nil, []string{"--gateway-listen", "host:port"}},
		{[]string{"--lab-network=no spaces"}, nil, []string{"--lab-network"}},
		{[]string{"--tls-cert-file=/c.pem"}, nil, []string{"--tls-cert-file and --tls-key-file"}},
		{nil, map[string]string{"LAB_TLS_KEY_FILE": "/k.pem"}, []string{"give both or neither"}},
		{[]string{"--retry-period=0s"}, nil, []string{"--retry-period"}},
		{[]string{"--cloudevents-sink=ftp://x/y"}, nil, []string{"--cloudevents-sink"}},
		{[]string{"--runtime=podman"}, nil, []string{"--runtime", "docker or kubernetes"}},
		{nil, map[string]string{"LAB_KUBERNETES_NAMESPACE": "Labs"}, []string{"$LAB_KUBERNETES_NAMESPACE", "namespace"}},
		{[]string{"--kubernetes-storage-class=Fast_SSD"}, nil, []string{"--kubernetes-storage-class"}},
		{[]string{"--kubernetes-workspace-size=lots"}, nil, []string{"--kubernetes-workspace-size", "1Gi"}},
		{[]string{"--kubernetes-workspace-size=-1Gi"}, nil, []string{"--kubernetes-workspace-size"}},
		{[]string{"--kubernetes-node-lost-timeout=0s"}, nil, []string{"--kubernetes-node-lost-timeout"}},
		{[]string{"--kubernetes-node-selector=pool"}, nil, []string{"--kubernetes-node-selector", "key=value"}},
		{[]string{"--kubernetes-tolerations=k=v:Sometimes"}, nil, []string{"--kubernetes-tolerations", "NoSchedule"}},
		{[]string{"--kubernetes-image-pull-policy=always"}, nil, []string{"--kubernetes-image-pull-policy", "IfNotPresent"}},
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

func TestSecuritySettings(t *testing.T) {
	t.Parallel()
	env := map[string]string{"LAB_ALLOWED_IMAGES": "registry.example.edu/labs/*, python:*", "LAB_RUN_AS_USER": "1000"}
	cfg, err := parseConfig([]string{"--lab-read-only-root-filesystem", "--allowed-images=labrm/busybox:test"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.AllowedImages, []string{"labrm/busybox:test"}) || cfg.LabRunAsUser == nil || *cfg.LabRunAsUser != 1000 || !cfg.LabReadOnlyRootFilesystem {
		t.Fatalf("flags over environment: %+v %v", cfg.AllowedImages, cfg.LabRunAsUser)
	}
	cfg, err = parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil || !slices.Equal(cfg.AllowedImages, []string{"registry.example.edu/labs/*", "python:*"}) || cfg.LabReadOnlyRootFilesystem {
		t.Fatalf("environment: %+v, %v", cfg.AllowedImages, err)
	}
	for _, bad := range [][]string{{"--allowed-images=registry.example.edu/[labs"}, {"--lab-run-as-user=-1"}, {"--lab-run-as-user=root"}, {"--lab-read-only-root-filesystem=maybe"}} {
		if _, err := parseConfig(bad, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
