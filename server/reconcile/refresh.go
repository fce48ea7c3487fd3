package reconcile

import (
	"context"
	"fmt"

	"github.com/labrm/terraform-provider-lab/server/store"
)

// refreshCapacity reads the engine's capacity (where not configured) and
// the largest workload it can run again, and when either changed, tells
// the ledger (a head that may fit now is woken) and records them for the
// other replicas. A cluster's nodes come and go; a Docker host's CPUs and
// memory do not, and nothing is written then. A reading of no capacity at
// all (no usable node, for a moment) is not applied: it would fail every
// waiting lab as too big.
func (c *Controller) refreshCapacity(ctx context.Context, led *ledger, term store.Term) error {
	capacity, err := c.resolveCapacity(ctx)
	if err != nil {
		return err
	}
	largest, err := c.cfg.Engine.Largest(ctx)
	if err != nil {
		return fmt.Errorf("read the largest workload the engine can run: %w", err)
	}
	was := led.recordedCapacity()
	if capacity.MilliCPU == was.MilliCPU && capacity.MemoryBytes == was.MemoryBytes &&
		largest.MilliCPU == was.MaxMilliCPU && largest.MemoryBytes == was.MaxMemoryBytes {
		return nil
	}
	rec := store.Capacity{MilliCPU: capacity.MilliCPU, MemoryBytes: capacity.MemoryBytes,
		MaxMilliCPU: largest.MilliCPU, MaxMemoryBytes: largest.MemoryBytes, RecordedBy: term.Holder, RecordedAt: c.cfg.Now().UTC()}
	if err := c.cfg.Store.RecordCapacity(ctx, rec, c.fence()); err != nil {
		return err
	}
	c.largest.Store(&largest)
	c.wake(led.setCapacity(capacity, rec))
	c.cfg.Logger.Info("the engine's capacity changed", "capacity", capacity.String(), "largest", largest.String())
	return nil
}
