package server

import (
	"context"

	"github.com/labrm/terraform-provider-lab/internal/group"
	"github.com/labrm/terraform-provider-lab/server/docker"
	"github.com/labrm/terraform-provider-lab/server/eventsink"
	"github.com/labrm/terraform-provider-lab/server/leader"
	"github.com/labrm/terraform-provider-lab/server/metrics"
	"github.com/labrm/terraform-provider-lab/server/outbox"
	"github.com/labrm/terraform-provider-lab/server/reconcile"
	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// controlPlane is the leader-elected part of a Server: the elector, and
// the work it runs while this replica leads (controller, CloudEvents
// delivery, outbox pruner).
type controlPlane struct {
	engine  *docker.Engine
	ctrl    *reconcile.Controller
	sink    *eventsink.Dispatcher
	pruner  *outbox.Pruner
	elector *leader.Elector
}

func newControlPlane(cfg Config, db *store.DB, m *metrics.Metrics) (*controlPlane, error) {
	log := cfg.Logger
	engine, err := docker.New(docker.Config{Host: cfg.DockerHost, AccessHost: cfg.AccessHost, PublishIP: cfg.PublishIP,
		Logger: log.With("component", "docker")})
	if err != nil {
		return nil, err
	}
	cp := &controlPlane{engine: engine}
	cp.ctrl = reconcile.New(reconcile.Config{
		Store: db, Engine: m.Engine(engine), Workers: cfg.Workers, StartConcurrency: cfg.StartConcurrency, AccessHost: cfg.AccessHost, Observer: m,
		Capacity:         workload.Resources{MilliCPU: cfg.CapacityCPU, MemoryBytes: cfg.CapacityMemory},
		ProvisionTimeout: cfg.ProvisionTimeout, StopTimeout: cfg.StopTimeout,
		ProbeInterval: cfg.ProbeInterval, ResyncPeriod: cfg.ResyncPeriod,
		Logger: log.With("component", "controller"),
	})
	cp.sink, err = eventsink.New(db, eventsink.Config{Sinks: cfg.CloudEventsSinks, Instance: cfg.InstanceID,
		Logger: log.With("component", "cloudevents"), Metrics: m.CloudEvents()})
	if err != nil {
		engine.Close()
		return nil, &ConfigError{err}
	}
	cp.pruner = &outbox.Pruner{DB: db, Retention: cfg.OutboxRetention, Logger: log.With("component", "outbox")}
	cp.elector, err = leader.New(db, leader.Config{
		LockName: cfg.LockName, Identity: cfg.InstanceID,
		LeaseDuration: cfg.LeaseDuration, RenewDeadline: cfg.RenewDeadline, RetryPeriod: cfg.RetryPeriod,
		Logger:   log.With("component", "leader"),
		Lead:     cp.lead,
		OnChange: m.LeaderChanged,
	})
	if err != nil {
		engine.Close()
		return nil, &ConfigError{err}
	}
	return cp, nil
}

// lead runs the leader's work under term until ctx ends or one part stops:
// the first to fail or return stops the others, and its error is lead's.
func (cp *controlPlane) lead(ctx context.Context, term store.Term) error {
	g, _ := group.New(ctx)
	g.Go("controller", func(ctx context.Context) error { return cp.ctrl.Run(ctx, term) })
	g.Go("cloudevents", cp.sink.Run)
	g.Go("outbox pruner", cp.pruner.Run)
	return g.Wait()
}

// run campaigns until ctx ends; leadership is released on the way out.
func (cp *controlPlane) run(ctx context.Context) error { return cp.elector.Run(ctx) }

func (cp *controlPlane) close() { cp.engine.Close() }
