package reconcile

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// RUNNING means the student's URL works: a lab whose workload has an app
// (a port) stays PROVISIONING until the app answers on it. An engine that
// probes apps itself (Kubernetes' readiness probes) says so in
// workload.Status.Readiness; for one that does not (Docker), the
// controller probes Status.Endpoint, the address labd's gateway dials,
// from labd's side: the same network path a student's requests take.

// Probe checks that an app answers at endpoint (host:port): a TCP
// connection when path is "", else an HTTP GET of path answered below 500.
// Its error says why not, in a few words a student may read.
type Probe func(ctx context.Context, endpoint, path string) error

// DefaultProbeTimeout bounds one readiness probe.
const DefaultProbeTimeout = 2 * time.Second

// needsProbe: the lab waits for its app, the workload runs and says where,
// and the engine has no verdict of its own.
func needsProbe(lab *api.LabInstanceRequest, ctr *workload.Status) bool {
	return lab.Status.Phase == api.PhaseProvisioning && lab.Metadata.DeletionTimestamp == nil &&
		ctr.State == workload.Running && ctr.Port > 0 && ctr.Endpoint != "" &&
		ctr.Readiness == workload.ReadinessUnknown
}

// probe fills in ctr.Readiness (and, when not ready, ctr.Message with the
// reason) from one probe of its endpoint.
func (c *Controller) probe(ctx context.Context, lab *api.LabInstanceRequest, ctr *workload.Status) {
	pctx, cancel := context.WithTimeout(ctx, c.cfg.ProbeTimeout)
	defer cancel()
	if err := c.cfg.Probe(pctx, ctr.Endpoint, lab.Spec.ReadinessPath); err != nil {
		ctr.Readiness, ctr.Message = workload.NotReady, err.Error()
		return
	}
	ctr.Readiness = workload.Ready
}

// probeClient makes readiness probes: no proxy from the environment (the
// gateway dials endpoints directly), no keep-alive (one request each), no
// redirects followed (a 3xx is an answer below 500).
var probeClient = &http.Client{
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, DialContext: (&net.Dialer{}).DialContext},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// HTTPProbe is the default Probe.
func HTTPProbe(ctx context.Context, endpoint, path string) error {
	if path == "" {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", endpoint)
		if err != nil {
			return probeError(err)
		}
		return conn.Close()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+endpoint+path, nil)
	if err != nil {
		return fmt.Errorf("bad readiness path: %w", err)
	}
	req.Header.Set("User-Agent", "labd-readiness-probe")
	resp, err := probeClient.Do(req)
	if err != nil {
		return probeError(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 500 {
		return fmt.Errorf("GET %s answered %s", path, resp.Status)
	}
	return nil
}

// probeError keeps the cause of a failed connection and drops the
// addresses, which the lab's status already shows.
func probeError(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return errors.New("no answer in time")
	case strings.Contains(err.Error(), "connection refused"):
		return errors.New("connection refused")
	case strings.Contains(err.Error(), "connection reset"):
		return errors.New("connection reset")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errors.New("no answer in time")
	}
	return err
}

// hashWorkloadFields adds the workload fields beyond image, limits and
// environment to a spec hash, each only when set: a lab that does not use
// them keeps the hash it had before they existed, so upgrading labd does
// not recreate running labs.
func hashWorkloadFields(h hash.Hash, s workload.Spec) {
	if len(s.Command) > 0 {
		fmt.Fprintf(h, "command\x00%d\x00%s\x00", len(s.Command), strings.Join(s.Command, "\x00"))
	}
	if len(s.Args) > 0 {
		fmt.Fprintf(h, "args\x00%d\x00%s\x00", len(s.Args), strings.Join(s.Args, "\x00"))
	}
	if s.Port != 0 {
		fmt.Fprintf(h, "port\x00%d\x00", s.Port)
	}
	if s.ReadinessPath != "" {
		fmt.Fprintf(h, "readiness\x00%s\x00", s.ReadinessPath)
	}
}
