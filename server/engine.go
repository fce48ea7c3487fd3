package server

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/labrm/terraform-provider-lab/server/docker"
	"github.com/labrm/terraform-provider-lab/server/kubernetes"
	"github.com/labrm/terraform-provider-lab/server/reconcile"
	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// Runtimes: the engines labs can run on (Config.Runtime).
const (
	RuntimeDocker     = "docker"
	RuntimeKubernetes = "kubernetes"
)

// engine is the runtime labs run on, as the control plane uses it: the
// controller's Engine, its events, and what the runtime needs besides.
type engine struct {
	reconcile.Engine
	// name is the runtime's ("docker", "kubernetes"): the readiness
	// check's name.
	name   string
	events <-chan workload.Event
	// follow, if set, follows the engine while the process lives, leader
	// or not (Docker's event stream, which tells a daemon restart).
	follow func(context.Context) error
	// lead, if set, runs at the start of every leadership term, before
	// the controller (Kubernetes' network policy).
	lead  func(context.Context) error
	close func() error
}

// newEngine builds the runtime cfg.Runtime names.
func newEngine(ctx context.Context, cfg Config, db *store.DB, log *slog.Logger) (*engine, error) {
	switch cfg.Runtime {
	case "", RuntimeDocker:
		dcfg := docker.Config{Host: cfg.DockerHost, Network: cfg.LabNetwork,
			RunAsUser: cfg.LabRunAsUser, ReadOnlyRootFilesystem: cfg.LabReadOnlyRootFilesystem,
			Logger: log.With("component", "docker")}
		if cfg.PublishPorts {
			dcfg.PublishIP = cfg.PublishIP
		}
		e, err := docker.New(dcfg)
		if err != nil {
			return nil, &ConfigError{err}
		}
		return &engine{Engine: e, name: RuntimeDocker, events: e.Events(), follow: e.Run, close: e.Close}, nil
	case RuntimeKubernetes:
		return newKubernetes(ctx, cfg, db, log)
	}
	return nil, &ConfigError{fmt.Errorf("runtime %q: want %s or %s", cfg.Runtime, RuntimeDocker, RuntimeKubernetes)}
}

// newKubernetes builds the kubernetes runtime. Its workspaces and network
// policy are the installation's, so it reads the installation id first.
func newKubernetes(ctx context.Context, cfg Config, db *store.DB, log *slog.Logger) (*engine, error) {
	kc := cfg.Kubernetes
	pull, err := kubernetes.ParsePullPolicy(kc.ImagePullPolicy)
	if err != nil {
		return nil, &ConfigError{err}
	}
	tolerations, err := kubernetes.ParseTolerations(kc.Tolerations)
	if err != nil {
		return nil, &ConfigError{err}
	}
	selector, err := kubernetes.ParseNodeSelector(kc.NodeSelector)
	if err != nil {
		return nil, &ConfigError{err}
	}
	installation, err := db.InstallationID(ctx)
	if err != nil {
		return nil, fmt.Errorf("kubernetes runtime: %w", err)
	}
	klog := log.With("component", "kubernetes")
	kubernetes.LogTo(klog.With("source", "client-go"))
	// The informers live as long as the engine, not as New's context.
	e, err := kubernetes.New(context.WithoutCancel(ctx), kubernetes.Config{
		Kubeconfig: kc.Kubeconfig, Namespace: kc.Namespace, Installation: installation,
		ImagePullPolicy: pull, NodeSelector: selector, Tolerations: tolerations,
		NodeLostTimeout: kc.NodeLostTimeout, StorageClass: kc.StorageClass, WorkspaceSize: kc.WorkspaceSize,
		RunAsUser: cfg.LabRunAsUser, ReadOnlyRootFilesystem: cfg.LabReadOnlyRootFilesystem,
		Logger: klog,
	})
	if err != nil {
		return nil, &ConfigError{err}
	}
	return &engine{Engine: e, name: RuntimeKubernetes, events: e.Events(), lead: e.EnsureNetworkPolicy, close: e.Close}, nil
}
