package server

import (
	"context"
	"fmt"
	"net"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/internal/group"
	"github.com/labrm/terraform-provider-lab/server/eventsink"
	"github.com/labrm/terraform-provider-lab/server/images"
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
	engine  *engine
	ctrl    *reconcile.Controller
	sink    *eventsink.Dispatcher
	pruner  *outbox.Pruner
	elector *leader.Elector
}

// newControlPlane builds the leader's parts; accessURL is the gateway's
// URL of a lab, which the controller records.
func newControlPlane(ctx context.Context, cfg Config, db *store.DB, m *metrics.Metrics, policy *images.Policy, accessURL func(api.Key) string) (_ *controlPlane, err error) {
	log := cfg.Logger // rate-limited per cause (New)
	eng, err := newEngine(ctx, cfg, db, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			eng.close()
		}
	}()
	cp := &controlPlane{engine: eng}
	cp.ctrl = reconcile.New(reconcile.Config{
		Store: db, Engine: m.Engine(eng.Engine), Workers: cfg.Workers, StartConcurrency: cfg.StartConcurrency, AccessHost: hostOnly(cfg.AccessHost), Observer: m,
		AccessURL:        accessURL,
		Capacity:         workload.Resources{MilliCPU: cfg.CapacityCPU, MemoryBytes: cfg.CapacityMemory},
		ProvisionTimeout: cfg.ProvisionTimeout, StopTimeout: cfg.StopTimeout,
		ProbeInterval: cfg.ProbeInterval, ResyncPeriod: cfg.ResyncPeriod,
		EngineEvents: eng.events, Images: policy,
		Logger: log.With("component", "controller"),
	})
	cp.sink, err = eventsink.New(db, eventsink.Config{Sinks: cfg.CloudEventsSinks, Instance: cfg.InstanceID,
		Logger: log.With("component", "cloudevents"), Metrics: m.CloudEvents()})
	if err != nil {
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
		return nil, &ConfigError{err}
	}
	return cp, nil
}

// lead runs the leader's work under term until ctx ends or one part stops:
// the first to fail or return stops the others, and its error is lead's.
// What the runtime needs at each term's start (Kubernetes' network policy,
// which admits traffic to labs from labd only) is done first: no lab is
// started without it.
func (cp *controlPlane) lead(ctx context.Context, term store.Term) error {
	if cp.engine.lead != nil {
		if err := cp.engine.lead(ctx); err != nil {
			return fmt.Errorf("%s runtime: %w", cp.engine.name, err)
		}
	}
	g, _ := group.New(ctx)
	g.Go("controller", func(ctx context.Context) error { return cp.ctrl.Run(ctx, term) })
	g.Go("cloudevents", cp.sink.Run)
	g.Go("outbox pruner", cp.pruner.Run)
	return g.Wait()
}

// run campaigns until ctx ends; leadership is released on the way out.
// The engine is followed meanwhile, leader or not (Docker's event stream),
// so that whichever replica leads next knows of the engine's outages.
func (cp *controlPlane) run(ctx context.Context) error {
	g, _ := group.New(ctx)
	if cp.engine.follow != nil {
		g.Go("engine monitor", cp.engine.follow)
	}
	g.Go("leader election", cp.elector.Run)
	return g.Wait()
}

func (cp *controlPlane) close() { cp.engine.close() }

// hostOnly is a host[:port] without the port: what a lab's resource
// allocation records as its host.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}
