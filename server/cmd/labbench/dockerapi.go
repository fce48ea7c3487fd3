package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labrm/terraform-provider-lab/server/workload"
)

// dockerAPI is the baseline's way to start containers: the Docker Engine
// API over HTTP, as `docker run -d` uses it, without labd's engine code.
type dockerAPI struct {
	hc   *http.Client
	base string
}

func newDockerAPI(host string) (*dockerAPI, error) {
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("docker host %q: %w", host, err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	base := "http://docker"
	switch u.Scheme {
	case "unix":
		path := u.Path
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		}
	case "tcp", "http":
		base = "http://" + u.Host
	default:
		return nil, fmt.Errorf("docker host %q: want unix:// or tcp://", host)
	}
	return &dockerAPI{hc: &http.Client{Transport: tr, Timeout: 2 * time.Minute}, base: base + "/v1.41"}, nil
}

func (d *dockerAPI) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 && !(method == "DELETE" && resp.StatusCode == 404) {
		return fmt.Errorf("docker %s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// benchNetwork is the baselines' network: a bridge with traffic between
// containers off and no published ports, as labd's lab network
// (server/docker), but of their own, so that labd's is left as labd made
// it.
const benchNetwork = "labbench-direct"

// ensureNetwork makes benchNetwork exist.
func (d *dockerAPI) ensureNetwork(ctx context.Context) error {
	err := d.do(ctx, "GET", "/networks/"+benchNetwork, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "404") {
		return err
	}
	err = d.do(ctx, "POST", "/networks/create", map[string]any{
		"Name": benchNetwork, "Driver": "bridge",
		"Options": map[string]string{"com.docker.network.bridge.enable_icc": "false"},
		"Labels":  map[string]string{"labbench": "direct"},
	}, nil)
	if err != nil && strings.Contains(err.Error(), "409") {
		return nil
	}
	return err
}

// run is `docker run -d` of a container as labd makes a default lab
// (server/docker): limits 1 CPU and 2 GiB without swap, 1024 processes, on
// a bridge network without inter-container traffic and no published port,
// every capability dropped but workload.Capabilities, no new privileges,
// bounded logs.
func (d *dockerAPI) run(ctx context.Context, name, image string) (string, error) {
	pids := 1024
	cfg := map[string]any{
		"Image":  image,
		"Env":    []string{"LAB_NAME=" + name, "LAB_NAMESPACE=default", "LAB_STUDENT_EMAIL=s@university.edu"},
		"Labels": map[string]string{"labbench": "direct"},
		"HostConfig": map[string]any{
			"NanoCpus": 1e9, "Memory": 2 << 30, "MemorySwap": 2 << 30, "PidsLimit": pids,
			"NetworkMode": benchNetwork,
			"CapDrop":     []string{"ALL"}, "CapAdd": workload.Capabilities,
			"SecurityOpt":   []string{"no-new-privileges:true"},
			"RestartPolicy": map[string]any{"Name": "no"},
			"LogConfig":     map[string]any{"Type": "json-file", "Config": map[string]string{"max-size": "10m", "max-file": "2"}},
		},
	}
	var created struct{ Id string }
	if err := d.do(ctx, "POST", "/containers/create?name="+url.QueryEscape(name), cfg, &created); err != nil {
		return "", err
	}
	return created.Id, d.do(ctx, "POST", "/containers/"+created.Id+"/start", nil, nil)
}

func (d *dockerAPI) remove(ctx context.Context, id string) error {
	return d.do(ctx, "DELETE", "/containers/"+id+"?force=true&v=true", nil, nil)
}

// removeLabelled removes every container labelled labbench=direct, left
// from an earlier, interrupted run.
func (d *dockerAPI) removeLabelled(ctx context.Context) error {
	var list []struct{ Id string }
	filters := url.QueryEscape(`{"label":["labbench=direct"]}`)
	if err := d.do(ctx, "GET", "/containers/json?all=true&filters="+filters, nil, &list); err != nil {
		return err
	}
	for _, c := range list {
		if err := d.remove(ctx, c.Id); err != nil {
			return err
		}
	}
	return nil
}

// directStarts starts n containers in parallel and returns how long until
// every start returned; then removes them in parallel and returns how
// long that took.
func (d *dockerAPI) directStarts(ctx context.Context, n int, image string) (start, remove time.Duration, err error) {
	if err := d.removeLabelled(ctx); err != nil {
		return 0, 0, err
	}
	if err := d.ensureNetwork(ctx); err != nil {
		return 0, 0, err
	}
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], errs[i] = d.run(ctx, fmt.Sprintf("labbench-direct-%d", i), image)
		}()
	}
	wg.Wait()
	start = time.Since(t0)
	t1 := time.Now()
	for i := range n {
		if ids[i] == "" {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); d.remove(ctx, ids[i]) }()
	}
	wg.Wait()
	remove = time.Since(t1)
	for _, e := range errs {
		if e != nil {
			return start, remove, e
		}
	}
	return start, remove, nil
}
