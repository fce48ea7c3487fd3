package provider

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/internal/client"
	"github.com/labrm/terraform-provider-lab/internal/wait"
	"github.com/labrm/terraform-provider-lab/server/servertest"
)

// Test harness: a real labd (built once per package run from
// server/cmd/labd) started per test on its own PostgreSQL database, and a
// real terraform CLI found offline.

// testAccProviders serves the provider in-process to terraform.
var testAccProviders = map[string]func() (tfprotov6.ProviderServer, error){
	"lab": providerserver.NewProtocol6WithError(New("test")()),
}

const defaultTerraform = "/usr/local/bin/terraform"

var labdBuildDir string

func TestMain(m *testing.M) {
	// terraform-plugin-testing downloads terraform unless told where one
	// is; never let it. The provider lives outside the hashicorp namespace.
	if os.Getenv("TF_ACC_TERRAFORM_PATH") == "" {
		if _, err := os.Stat(defaultTerraform); err == nil {
			os.Setenv("TF_ACC_TERRAFORM_PATH", defaultTerraform)
		}
	}
	if os.Getenv("TF_ACC_PROVIDER_NAMESPACE") == "" {
		os.Setenv("TF_ACC_PROVIDER_NAMESPACE", "labrm")
	}
	os.Setenv("CHECKPOINT_DISABLE", "1")
	if os.Getenv("TF_CLI_CONFIG_FILE") == "" {
		os.Setenv("TF_CLI_CONFIG_FILE", os.DevNull) // no user CLI config (mirrors, dev_overrides) leaking in
	}
	code := m.Run()
	if labdBuildDir != "" {
		os.RemoveAll(labdBuildDir)
	}
	os.Exit(code)
}

// requireTerraform makes sure terraform-plugin-testing will use a local
// terraform binary: it skips (fails under CI=true) when there is none.
func requireTerraform(t *testing.T) {
	t.Helper()
	p := os.Getenv("TF_ACC_TERRAFORM_PATH")
	if p != "" {
		if _, err := os.Stat(p); err == nil {
			return
		}
	}
	unavailable(t, "no terraform binary: set TF_ACC_TERRAFORM_PATH or install %s (make test does)", defaultTerraform)
}

// accPreCheck gates acceptance tests on TF_ACC=1; under CI=true a missing
// TF_ACC fails rather than skipping silently.
func accPreCheck(t *testing.T) {
	t.Helper()
	if os.Getenv("TF_ACC") == "" {
		unavailable(t, "acceptance tests need TF_ACC=1 (make testacc sets it)")
	}
	requireTerraform(t)
}

func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true: "+format, args...)
	}
	t.Skipf(format, args...)
}

var labdBuild struct {
	once sync.Once
	path string
	err  error
	took time.Duration
}

// labdBinary builds server/cmd/labd once per package run.
func labdBinary(t *testing.T) string {
	t.Helper()
	labdBuild.once.Do(func() {
		start := time.Now()
		dir, err := os.MkdirTemp("", "labd-acc-")
		if err != nil {
			labdBuild.err = err
			return
		}
		labdBuildDir = dir
		bin := filepath.Join(dir, "labd")
		cmd := exec.Command("go", "build", "-o", bin, "./server/cmd/labd")
		cmd.Dir = ".." // the module root, from this package's directory
		out, err := cmd.CombinedOutput()
		if err != nil {
			labdBuild.err = fmt.Errorf("go build ./server/cmd/labd: %v\n%s", err, out)
			return
		}
		labdBuild.path, labdBuild.took = bin, time.Since(start)
	})
	if labdBuild.err != nil {
		t.Fatal(labdBuild.err)
	}
	return labdBuild.path
}

// labd is a running labd process.
type labd struct {
	URL    string
	Client *client.Client
	out    *servertest.LogBuffer
}

var labdSeq atomic.Int32

// startLabd starts a labd on a fresh PostgreSQL database and a free
// loopback port, waits until /api/status/ready answers 200, and stops it
// (SIGTERM, then SIGKILL after 15s) when the test ends. Its output is
// logged if the test fails.
func startLabd(t *testing.T) *labd {
	t.Helper()
	bin := labdBinary(t)
	dbURL := servertest.PostgresURL(t)
	addr := freeAddr(t)
	id := fmt.Sprintf("acc-%d", labdSeq.Add(1))
	args := []string{"--listen", addr, "--database-url", dbURL, "--instance-id", id}
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		args = append(args, "--docker-host", h)
	}
	cmd := exec.Command(bin, args...)
	out := &servertest.LogBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start labd: %v", err)
	}
	// exited is closed once labd has exited, with its error in werr: closed
	// rather than sent on, so the readiness check and the clean-up can both
	// see it.
	exited := make(chan struct{})
	var werr error
	go func() { werr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			t.Errorf("labd %s did not stop within 15s of SIGTERM; killing it", id)
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("labd %s output:\n%s", id, out.String())
		}
	})

	url := "http://" + addr
	c, err := client.New(url, client.WithRetry(client.RetryPolicy{MaxAttempts: 1}))
	if err != nil {
		t.Fatal(err)
	}
	err = eventually(t.Context(), 60*time.Second, 100*time.Millisecond, func(ctx context.Context) error {
		select {
		case <-exited:
			t.Fatalf("labd exited before it was ready (%v):\n%s", werr, out.String())
		default:
		}
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := c.Ready(ctx)
		return err
	})
	if err != nil {
		t.Fatalf("labd not ready after 60s: %v\n%s", err, out.String())
	}
	t.Logf("labd %s ready on %s in %v (build %v)", id, addr, time.Since(start).Round(time.Millisecond), labdBuild.took.Round(time.Millisecond))
	full, err := client.New(url)
	if err != nil {
		t.Fatal(err)
	}
	return &labd{URL: url, Client: full, out: out}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// providerBlock configures the provider for this test's labd.
func (d *labd) providerBlock() string {
	return fmt.Sprintf("provider \"lab\" {\n  endpoint = %q\n}\n", d.URL)
}

// waitGone polls (bounded) until labd answers 404 for key.
func (d *labd) waitGone(t *testing.T, key api.Key, within time.Duration) error {
	t.Helper()
	err := eventually(context.Background(), within, 200*time.Millisecond, func(ctx context.Context) error {
		_, err := d.Client.Get(ctx, key)
		if api.IsNotFound(err) {
			return nil
		}
		return cmp.Or(err, errors.New("GET still finds it"))
	})
	if err != nil {
		return fmt.Errorf("lab %s still there after %v (last: %v)", key, within, err)
	}
	return nil
}

// eventually calls try every interval until it returns nil, and returns
// try's last error if that has not happened within the time given. try may
// end the test (t.Fatal) on an error that retrying cannot cure.
func eventually(ctx context.Context, within, every time.Duration, try func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		err := try(ctx)
		if err == nil {
			return nil
		}
		if wait.Sleep(ctx, every) != nil {
			return err
		}
	}
}

func randName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// testImage is the local image labs run in acceptance tests.
func testImage() string {
	if v := os.Getenv("LAB_TEST_IMAGE"); v != "" {
		return v
	}
	return "labrm/busybox:test"
}

// requireDocker checks that the Docker CLI reaches an engine with the test
// image; it skips (fails under CI=true) otherwise.
func requireDocker(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "image", "inspect", "-f", "{{.Id}}", testImage()).CombinedOutput(); err != nil {
		unavailable(t, "docker with image %s: %v: %s (make test builds it)", testImage(), err, strings.TrimSpace(string(out)))
	}
}

// altImage is a second tag of the test image, so that replacing a lab's
// lab_template needs no registry.
func altImage(t *testing.T) string {
	t.Helper()
	alt := strings.SplitN(testImage(), ":", 2)[0] + ":acc-alt"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "tag", testImage(), alt).CombinedOutput(); err != nil {
		t.Fatalf("docker tag %s %s: %v: %s", testImage(), alt, err, out)
	}
	return alt
}

// labContainers lists the ids of containers labd made for a lab uid, by
// the labels it puts on them (running or not).
func labContainers(uid string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "ps", "-a", "-q", "--no-trunc",
		"--filter", "label=managed-by=labd", "--filter", "label=resource-uid="+uid).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("docker ps: %v: %s", err, out)
	}
	return strings.Fields(string(out)), nil
}

// containerRunning reports whether the container id is running.
func containerRunning(id string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "inspect", "-f", "{{.State.Running}}", id).CombinedOutput()
	if err != nil {
		return false, fmt.Errorf("docker inspect %s: %v: %s", id, err, out)
	}
	return strings.TrimSpace(string(out)) == "true", nil
}
