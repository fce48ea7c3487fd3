package store

// Leader terms and fencing: each acquisition of leadership bumps an epoch,
// and writes made under an older one are refused. The lock that decides
// who may start a term is in lock.go.

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// Term is a leadership term: every acquisition of leadership starts a new
// one with a higher epoch.
type Term struct {
	Epoch      int64
	Holder     string
	AcquiredAt *time.Time
}

// StartTerm bumps the epoch and records the new leader. Writes made under
// an older epoch fail from now on (see checkFence); a transaction that
// checked an older epoch and is still open makes this wait until it ends.
func (tx *Tx) StartTerm(ctx context.Context, holder string) (Term, error) {
	now := tx.db.now().UTC()
	if err := tx.g.WithContext(ctx).Exec("UPDATE leader_term SET epoch = epoch + 1, holder = ?, acquired_at = ? WHERE id = 1", holder, now).Error; err != nil {
		return Term{}, fmt.Errorf("start leader term: %w", err)
	}
	return tx.CurrentTerm(ctx)
}

// CurrentTerm reads the current term.
func (tx *Tx) CurrentTerm(ctx context.Context) (Term, error) {
	var row struct {
		Epoch      int64
		Holder     string
		AcquiredAt *time.Time
	}
	if err := tx.g.WithContext(ctx).Raw("SELECT epoch, holder, acquired_at FROM leader_term WHERE id = 1").Scan(&row).Error; err != nil {
		return Term{}, fmt.Errorf("read leader term: %w", err)
	}
	return Term{Epoch: row.Epoch, Holder: row.Holder, AcquiredAt: row.AcquiredAt}, nil
}

// checkFence fails with api.EFENCED unless epoch is still current. On
// PostgreSQL the row is locked FOR SHARE until the transaction ends, so a
// new leader's StartTerm waits for this write to finish, and every write
// after it sees the new epoch: a deposed leader can never write. FOR KEY
// SHARE would not block that UPDATE, which changes no key.
func (tx *Tx) checkFence(ctx context.Context, epoch int64) error {
	if epoch == 0 {
		return nil
	}
	q := tx.g.WithContext(ctx).Table("leader_term").Select("epoch").Where("id = 1")
	if tx.db.postgres {
		q = q.Clauses(clause.Locking{Strength: "SHARE"})
	}
	var current int64
	if err := q.Scan(&current).Error; err != nil {
		return fmt.Errorf("check leader epoch: %w", err)
	}
	if current != epoch {
		return fencedError(epoch, current)
	}
	return nil
}

func fencedError(epoch, current int64) error {
	return api.Errorf(api.EFENCED, "leader epoch %d is over (current epoch %d): this replica is no longer the leader", epoch, current)
}

// CheckFence is checkFence for callers that make their own writes in tx.
func (tx *Tx) CheckFence(ctx context.Context, epoch int64) error { return tx.checkFence(ctx, epoch) }
