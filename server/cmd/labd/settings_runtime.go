package main

import (
	"fmt"
	"regexp"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server"
	"github.com/labrm/terraform-provider-lab/server/kubernetes"
)

// runtimeSettings choose the engine labs run on, and configure the
// kubernetes runtime (the Docker engine's own are --docker-host and the
// gateway's --lab-network, --publish-ports and --publish-ip). The
// kubernetes-* settings are read with --runtime kubernetes only.
var runtimeSettings = []setting{
	{
		Flag: "runtime", Env: "LAB_RUNTIME", Default: server.RuntimeDocker,
		Usage: "what labs run on: docker (one Docker engine, --docker-host) or kubernetes (pods in a cluster, --kubeconfig)",
		apply: func(c *Config, v string) error {
			if v != server.RuntimeDocker && v != server.RuntimeKubernetes {
				return fmt.Errorf("must be %s or %s", server.RuntimeDocker, server.RuntimeKubernetes)
			}
			c.Runtime = v
			return nil
		},
	},
	{
		Flag: "kubeconfig", Env: "LAB_KUBECONFIG", Default: "",
		Usage: `kubeconfig file of the cluster labs run on with --runtime kubernetes ("" = in-cluster: labd's ServiceAccount)`,
		apply: func(c *Config, v string) error { c.Kubernetes.Kubeconfig = v; return nil },
	},
	{
		Flag: "kubernetes-namespace", Env: "LAB_KUBERNETES_NAMESPACE", Default: kubernetes.DefaultNamespace,
		Usage: "namespace of the labs' pods, workspace claims and network policy",
		apply: func(c *Config, v string) error {
			if api.ValidateName(v) != nil {
				return fmt.Errorf("must be a namespace name (a DNS label: lower-case letters, digits and -, at most 63)")
			}
			c.Kubernetes.Namespace = v
			return nil
		},
	},
	{
		Flag: "kubernetes-storage-class", Env: "LAB_KUBERNETES_STORAGE_CLASS", Default: "",
		Usage: `StorageClass of students' workspace claims ("" = the cluster's default class)`,
		apply: func(c *Config, v string) error {
			if v != "" && !dnsSubdomainRe.MatchString(v) {
				return fmt.Errorf("must be a StorageClass name (a DNS subdomain)")
			}
			c.Kubernetes.StorageClass = v
			return nil
		},
	},
	{
		Flag: "kubernetes-workspace-size", Env: "LAB_KUBERNETES_WORKSPACE_SIZE", Default: kubernetes.DefaultWorkspaceSize,
		Usage: "storage each student's workspace claim requests",
		apply: func(c *Config, v string) error {
			if kubernetes.CheckSize(v) != nil {
				return fmt.Errorf("must be a positive quantity like 1Gi")
			}
			c.Kubernetes.WorkspaceSize = v
			return nil
		},
	},
	durationSetting("kubernetes-node-lost-timeout", "LAB_KUBERNETES_NODE_LOST_TIMEOUT", "1m",
		"a lab whose node has not been Ready this long FAILS (NodeLost), counted from when the cluster marks the node not Ready",
		func(c *Config) *time.Duration { return &c.Kubernetes.NodeLostTimeout }),
	{
		Flag: "kubernetes-node-selector", Env: "LAB_KUBERNETES_NODE_SELECTOR", Default: "",
		Usage: `node labels labs' pods require, like "labrm.io/labs=true"; capacity counts those nodes only`,
		apply: func(c *Config, v string) error {
			if _, err := kubernetes.ParseNodeSelector(v); err != nil {
				return err
			}
			c.Kubernetes.NodeSelector = v
			return nil
		},
	},
	{
		Flag: "kubernetes-tolerations", Env: "LAB_KUBERNETES_TOLERATIONS", Default: "",
		Usage:      `taints labs' pods tolerate, like "dedicated=labs:NoSchedule" (key=value:Effect, key:Effect or key); repeatable`,
		repeatable: true,
		apply: func(c *Config, v string) error {
			if _, err := kubernetes.ParseTolerations(v); err != nil {
				return err
			}
			c.Kubernetes.Tolerations = v
			return nil
		},
	},
	{
		Flag: "kubernetes-image-pull-policy", Env: "LAB_KUBERNETES_IMAGE_PULL_POLICY", Default: "IfNotPresent",
		Usage: "image pull policy of labs' containers: Always, IfNotPresent or Never",
		apply: func(c *Config, v string) error {
			if _, err := kubernetes.ParsePullPolicy(v); err != nil {
				return err
			}
			c.Kubernetes.ImagePullPolicy = v
			return nil
		},
	},
}

var dnsSubdomainRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
