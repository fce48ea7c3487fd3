package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/eventsink"
	"github.com/labrm/terraform-provider-lab/server/httpapi"
	"github.com/labrm/terraform-provider-lab/server/leader"
	"github.com/labrm/terraform-provider-lab/server/metrics"
	"github.com/labrm/terraform-provider-lab/server/outbox"
	"github.com/labrm/terraform-provider-lab/server/reconcile"
	"github.com/labrm/terraform-provider-lab/server/runtime"
	"github.com/labrm/terraform-provider-lab/server/runtime/docker"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// controlPlane is the leader-elected part of labd: the elector, and the
// work it runs while this replica leads (controller, CloudEvents delivery,
// outbox pruner).
type controlPlane struct {
	cfg     Config
	log     *slog.Logger
	db      *store.DB
	rt      *docker.Runtime
	ctrl    *reconcile.Controller
	sink    *eventsink.Dispatcher
	elector *leader.Elector
}

func newControlPlane(cfg Config, db *store.DB, log *slog.Logger, m *metrics.Metrics) (*controlPlane, error) {
	rt, err := docker.New(docker.Config{Host: cfg.DockerHost, AccessHost: cfg.AccessHost, PublishIP: cfg.PublishIP,
		Logger: log.With("component", "docker")})
	if err != nil {
		return nil, err
	}
	cp := &controlPlane{cfg: cfg, log: log, db: db, rt: rt}
	cp.ctrl = reconcile.New(reconcile.Config{
		Store: db, Runtime: m.Runtime(rt), Workers: cfg.Workers, AccessHost: cfg.AccessHost, Observer: m,
		ProvisionTimeout: cfg.ProvisionTimeout, StopTimeout: cfg.StopTimeout,
		ProbeInterval: cfg.ProbeInterval, ResyncPeriod: cfg.ResyncPeriod,
		Logger: log.With("component", "controller"),
	})
	cp.sink, err = eventsink.New(db, eventsink.Config{Sinks: cfg.CloudEventsSinks, Instance: cfg.InstanceID,
		Logger: log.With("component", "cloudevents"), Metrics: m.CloudEvents()})
	if err != nil {
		rt.Close()
		return nil, configError{err}
	}
	cp.elector, err = leader.New(db, leader.Config{
		LockName: cfg.LockName, Identity: cfg.InstanceID,
		LeaseDuration: cfg.LeaseDuration, RenewDeadline: cfg.RenewDeadline, RetryPeriod: cfg.RetryPeriod,
		Logger:   log.With("component", "leader"),
		Lead:     cp.lead,
		OnChange: m.LeaderChanged,
	})
	if err != nil {
		rt.Close()
		return nil, configError{err}
	}
	return cp, nil
}

// lead runs the leader's work under term until ctx ends or a part fails.
func (cp *controlPlane) lead(ctx context.Context, term store.Term) error {
	capacity, err := cp.capacity(ctx)
	if err != nil {
		return err
	}
	cp.ctrl.SetCapacity(capacity)
	cp.log.Info("leading", "epoch", term.Epoch, "capacity", capacity.String())
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	spawn := func(name string, run func(context.Context) error) {
		wg.Go(func() {
			err := run(ctx)
			if err != nil && ctx.Err() == nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("%s: %w", name, err)
				}
				mu.Unlock()
			}
			cancel(errors.New(name + " stopped"))
		})
	}
	spawn("controller", func(ctx context.Context) error { return cp.ctrl.Run(ctx, term) })
	spawn("cloudevents", cp.sink.Run)
	spawn("outbox pruner", (&outbox.Pruner{DB: cp.db, Retention: cp.cfg.OutboxRetention, Logger: cp.log.With("component", "outbox")}).Run)
	wg.Wait()
	return first
}

// capacity is the configured capacity, completed from the Docker engine's
// CPUs and memory where not configured.
func (cp *controlPlane) capacity(ctx context.Context) (reconcile.Resources, error) {
	c := reconcile.Resources{MilliCPU: cp.cfg.CapacityCPU, MemoryBytes: cp.cfg.CapacityMemory}
	if c.MilliCPU > 0 && c.MemoryBytes > 0 {
		return c, nil
	}
	info, err := cp.rt.Client().Info(ctx)
	if err != nil {
		return c, fmt.Errorf("read the Docker engine's capacity (or set --capacity-cpu and --capacity-memory): %w", err)
	}
	if c.MilliCPU == 0 {
		c.MilliCPU = int64(info.NCPU) * 1000
	}
	if c.MemoryBytes == 0 {
		c.MemoryBytes = info.MemTotal
	}
	return c, nil
}

// Logs serves GET .../logs from the lab's container.
func (cp *controlPlane) Logs(ctx context.Context, lab *api.LabInstanceRequest, lines int) (string, error) {
	out, err := cp.rt.Logs(ctx, reconcile.ContainerName(lab.Metadata.UID), lines)
	if errors.Is(err, runtime.ErrNotFound) {
		return "", fmt.Errorf("logs: %w", httpapi.ErrNoContainer)
	}
	return out, err
}

// Leader serves GET /api/status/leader.
func (cp *controlPlane) Leader(ctx context.Context) (api.LeaderStatus, error) {
	return cp.elector.Status(ctx)
}

// QueueDepth is the controller's queue depth (0 on a standby).
func (cp *controlPlane) QueueDepth() int { return cp.ctrl.QueueDepth() }

// Finalizing is the number of finalizers running on this replica.
func (cp *controlPlane) Finalizing() int64 { return cp.ctrl.Finalizing() }

// run campaigns until ctx ends; leadership is released on the way out.
func (cp *controlPlane) run(ctx context.Context) error { return cp.elector.Run(ctx) }

func (cp *controlPlane) close() { cp.rt.Close() }
