package docker

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"

	"github.com/labrm/terraform-provider-lab/server/workload"
)

// How labs are reached. Every lab container joins one bridge network that
// labd manages (Config.Network), made with inter-container traffic off:
// a lab cannot open a connection to another lab, while the host (where
// labd's gateway runs) reaches each at its own address. Nothing is
// published on the host by default. Where the host cannot reach container
// addresses (a remote engine, Docker Desktop), Config.PublishIP publishes
// each lab's app port, and only it, on that one host address; never on
// every interface.

// Network options of the lab network.
const (
	optICC         = "com.docker.network.bridge.enable_icc"
	optHostBinding = "com.docker.network.bridge.host_binding_ipv4"
)

// labelAppPort records on a container the app port Ensure resolved, so
// that Inspect reports the same Port and Endpoint after a restart of labd.
const labelAppPort = "app-port"

// DefaultNetwork is the lab network's name unless configured.
const DefaultNetwork = "labd-labs"

// CheckPublishIP reports what is wrong with ip as the one host address lab
// ports are published on: it must be an IP address, and a specific one.
func CheckPublishIP(ip string) error {
	a := net.ParseIP(ip)
	switch {
	case a == nil:
		return fmt.Errorf("must be an IP address like 127.0.0.1")
	case a.IsUnspecified():
		return fmt.Errorf("must be one host address, not %s (every interface)", ip)
	}
	return nil
}

// ensureNetwork makes the lab network exist, once per Engine (again after
// a create found it gone). One made by someone else is used only if it is
// a bridge with inter-container traffic off: otherwise labs could reach
// each other, and Ensure fails with an error that says so.
func (r *Engine) ensureNetwork(ctx context.Context, installation string) error {
	r.netMu.Lock()
	defer r.netMu.Unlock()
	if r.netReady {
		return nil
	}
	n, err := r.cli.NetworkInspect(ctx, r.network, network.InspectOptions{})
	switch {
	case cerrdefs.IsNotFound(err):
		_, err = r.cli.NetworkCreate(ctx, r.network, network.CreateOptions{
			Driver:  "bridge",
			Options: map[string]string{optICC: "false", optHostBinding: "127.0.0.1"},
			Labels: map[string]string{workload.LabelManagedBy: workload.ManagedBy,
				workload.LabelInstallation: installation},
		})
		if cerrdefs.IsConflict(err) {
			err = nil // made concurrently by another labd: checked next time round
			break
		}
		if err != nil {
			return fmt.Errorf("create lab network %s: %w", r.network, err)
		}
		r.log.Info("created lab network", "network", r.network, "icc", false)
		r.netReady = true
		return nil
	case err != nil:
		return fmt.Errorf("inspect lab network %s: %w", r.network, err)
	}
	if err := checkLabNetwork(n); err != nil {
		return err
	}
	r.netReady = true
	return nil
}

// checkLabNetwork refuses a network on which labs could reach each other.
func checkLabNetwork(n network.Inspect) error {
	if n.Driver != "bridge" || n.Options[optICC] != "false" {
		return fmt.Errorf("lab network %s (driver %s) allows traffic between containers: it must be a bridge network "+
			"with %s=false; remove it (labd creates it) or configure another lab network", n.Name, n.Driver, optICC)
	}
	return nil
}

// forgetNetwork makes the next Ensure check the network again (it was
// removed under us).
func (r *Engine) forgetNetwork() {
	r.netMu.Lock()
	r.netReady = false
	r.netMu.Unlock()
}

// appPort is the app's port: the spec's, else the image's only exposed TCP
// port, else 0 (none, or several to choose from: no app to reach).
func appPort(spec workload.Spec, exposed map[string]struct{}) int {
	if spec.Port > 0 {
		return spec.Port
	}
	var tcp []int
	for p := range exposed {
		num, proto, _ := strings.Cut(p, "/")
		n, err := strconv.Atoi(num)
		if err == nil && n > 0 && (proto == "" || proto == "tcp") {
			tcp = append(tcp, n)
		}
	}
	if len(tcp) != 1 {
		return 0
	}
	return tcp[0]
}

// networking sets up how the container is reached: it joins the lab
// network; its app port is exposed, and published on PublishIP only when
// that is set; the resolved port goes in a label. It returns the port.
func (r *Engine) networking(spec workload.Spec, img image.InspectResponse, cfg *container.Config, hc *container.HostConfig) (*network.NetworkingConfig, int) {
	var exposed map[string]struct{}
	if img.Config != nil {
		exposed = make(map[string]struct{}, len(img.Config.ExposedPorts))
		for p := range img.Config.ExposedPorts {
			exposed[p] = struct{}{}
		}
	}
	port := appPort(spec, exposed)
	hc.NetworkMode = container.NetworkMode(r.network)
	hc.PublishAllPorts = false
	hc.PortBindings = nil
	if port > 0 {
		p := nat.Port(strconv.Itoa(port) + "/tcp")
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = nat.PortSet{}
		}
		cfg.ExposedPorts[p] = struct{}{}
		cfg.Labels[labelAppPort] = strconv.Itoa(port)
		if r.publishIP != "" {
			hc.PortBindings = nat.PortMap{p: {{HostIP: r.publishIP}}}
		}
	}
	return &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{r.network: {}}}, port
}

// reach fills in st.Port and st.Endpoint from the inspected container: the
// port its label records (or, for a container made before labels did, the
// only exposed TCP port), reached at the container's address on the lab
// network, or at its binding on PublishIP.
func (r *Engine) reach(st *workload.Status, c container.InspectResponse) {
	if c.Config == nil {
		return
	}
	port, err := strconv.Atoi(c.Config.Labels[labelAppPort])
	if err != nil || port <= 0 {
		exposed := map[string]struct{}{}
		for p := range c.Config.ExposedPorts {
			exposed[string(p)] = struct{}{}
		}
		port = appPort(workload.Spec{}, exposed)
	}
	st.Port = port
	if port == 0 || c.NetworkSettings == nil || st.State != workload.Running {
		return
	}
	if bs := c.NetworkSettings.Ports[nat.Port(strconv.Itoa(port)+"/tcp")]; r.publishIP != "" && len(bs) > 0 {
		i := slices.IndexFunc(bs, func(b nat.PortBinding) bool { return b.HostPort != "" })
		if i >= 0 {
			host := bs[i].HostIP
			if a := net.ParseIP(host); a == nil || a.IsUnspecified() {
				host = r.publishIP
			}
			st.Endpoint = net.JoinHostPort(host, bs[i].HostPort)
			return
		}
	}
	addr := ""
	if n := c.NetworkSettings.Networks[r.network]; n != nil {
		addr = n.IPAddress
	}
	if addr == "" {
		addr = st.Address // a container made before the lab network
	}
	if addr != "" {
		st.Endpoint = net.JoinHostPort(addr, strconv.Itoa(port))
	}
}
