package outbox

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/wait"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// Pruner deletes old events that every bookmark has passed.
type Pruner struct {
	DB        *store.DB
	Retention time.Duration // default 24h
	Interval  time.Duration // default 10m
	Logger    *slog.Logger
	Now       func() time.Time
}

// Run prunes every Interval until ctx ends.
func (p *Pruner) Run(ctx context.Context) error {
	retention := cmp.Or(p.Retention, 24*time.Hour)
	interval := cmp.Or(p.Interval, 10*time.Minute)
	log := cmp.Or(p.Logger, slog.New(slog.DiscardHandler))
	now := p.Now
	if now == nil {
		now = time.Now
	}
	for {
		n, err := p.DB.PruneEvents(ctx, now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("prune outbox", "err", err)
		case n > 0:
			log.Info("pruned outbox", "events", n)
		}
		if wait.Sleep(ctx, interval) != nil {
			return nil
		}
	}
}
