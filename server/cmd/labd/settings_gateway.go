package main

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/labrm/terraform-provider-lab/server/docker"
)

// gatewaySettings configure how students reach labs (server/gateway), how
// labs are isolated on the Docker host, and TLS.
//
// Every replica serves each lab under /labs/{namespace}/{name}/ on
// --listen (and on --gateway-listen, if set), and with --gateway-domain
// also at {name}--{namespace}.<domain>. A lab's access_url is built from
// --access-scheme, --access-host and --gateway-domain.
//
// Lab containers join --lab-network, made with traffic between containers
// off, and publish nothing: the gateway dials each container's address on
// that network. Only where labd cannot reach those addresses (a remote
// DOCKER_HOST, Docker Desktop) does --publish-ports publish each lab's app
// port, on --publish-ip alone (loopback by default; every interface is
// refused), and the gateway dials that.
var gatewaySettings = []setting{
	{
		Flag: "access-host", Env: "LAB_ACCESS_HOST", Default: "localhost",
		Usage: "host students reach labd's gateway at, in labs' access_url; add :PORT when it is not the gateway listener's (behind a proxy)",
		apply: func(c *Config, v string) error {
			host := v
			if h, port, err := net.SplitHostPort(v); err == nil {
				if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
					return fmt.Errorf("must be a host name or address, with an optional :PORT")
				}
				host = h
			}
			if host == "" || len(host) > 253 || strings.ContainsAny(host, "/?#@ \t") {
				return fmt.Errorf("must be a host name or address, with an optional :PORT")
			}
			c.AccessHost = v
			return nil
		},
	},
	{
		Flag: "access-scheme", Env: "LAB_ACCESS_SCHEME", Default: "",
		Usage: `scheme of labs' access_url: http or https ("" = https with --tls-cert-file, else http; set https behind a TLS-terminating proxy)`,
		apply: func(c *Config, v string) error {
			if v != "" && v != "http" && v != "https" {
				return fmt.Errorf("must be http or https")
			}
			c.AccessScheme = v
			return nil
		},
	},
	{
		Flag: "gateway-listen", Env: "LAB_GATEWAY_LISTEN", Default: "",
		Usage: "a second listen address, host:port, that serves labs only (--listen serves them too); access URLs then use its port",
		apply: func(c *Config, v string) error {
			if v != "" {
				if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
					return fmt.Errorf("must be host:port, like 0.0.0.0:8443")
				}
			}
			c.GatewayListen = v
			return nil
		},
	},
	{
		Flag: "gateway-domain", Env: "LAB_GATEWAY_DOMAIN", Default: "",
		Usage: "also serve each lab at {name}--{namespace}.DOMAIN (point a wildcard DNS name, and certificate, at labd); access_url then uses it",
		apply: func(c *Config, v string) error {
			v = strings.ToLower(v)
			if v != "" && !domainRe.MatchString(v) {
				return fmt.Errorf("must be a DNS name like labs.example.edu")
			}
			c.GatewayDomain = v
			return nil
		},
	},
	{
		Flag: "lab-network", Env: "LAB_NETWORK", Default: docker.DefaultNetwork,
		Usage: "Docker network lab containers join; labd creates it with traffic between containers off, and refuses one that allows it",
		apply: func(c *Config, v string) error {
			if !networkRe.MatchString(v) {
				return fmt.Errorf("must be a Docker network name (letters, digits, _.-)")
			}
			c.LabNetwork = v
			return nil
		},
	},
	boolSetting("publish-ports", "LAB_PUBLISH_PORTS", "publish each lab's app port on --publish-ip, where the gateway dials it, for a Docker engine whose container addresses labd cannot reach (a remote DOCKER_HOST); off, nothing is published",
		func(c *Config) *bool { return &c.PublishPorts }),
	{
		Flag: "publish-ip", Env: "LAB_PUBLISH_IP", Default: "127.0.0.1",
		Usage: "the one host address lab ports are published on with --publish-ports (never every interface: 0.0.0.0 and :: are refused)",
		apply: func(c *Config, v string) error {
			if err := docker.CheckPublishIP(v); err != nil {
				return err
			}
			c.PublishIP = v
			return nil
		},
	},
	{
		Flag: "tls-cert-file", Env: "LAB_TLS_CERT_FILE", Default: "",
		Usage: "PEM certificate (chain) to serve the API and the gateway over HTTPS; re-read on SIGHUP",
		apply: func(c *Config, v string) error { c.TLSCertFile = v; return nil },
	},
	{
		Flag: "tls-key-file", Env: "LAB_TLS_KEY_FILE", Default: "",
		Usage: "PEM private key of --tls-cert-file; re-read on SIGHUP",
		apply: func(c *Config, v string) error { c.TLSKeyFile = v; return nil },
	},
}

var (
	domainRe  = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	networkRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
)

// finishGateway checks the gateway settings that go together.
func finishGateway(c *Config) error {
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("--tls-cert-file and --tls-key-file ($LAB_TLS_CERT_FILE, $LAB_TLS_KEY_FILE) go together: give both or neither")
	}
	return nil
}
