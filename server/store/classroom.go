package store

import (
	"context"
	"fmt"
	"time"
)

// An ended lab's last output (lab_logs) and the capacity the leader admits
// against (capacity): small tables of their own, outside the lab's JSON
// and the outbox.

// LabLogs is what the store keeps of an ended lab's output.
type LabLogs struct {
	Output    string
	Truncated bool // the output was longer: this is its end
	SavedAt   time.Time
}

// SaveLabLogs keeps output as the last output of the lab uid, replacing
// what was kept before. A lab that no longer exists keeps nothing (no
// error). The write is fenced by opts.Fence.
func (tx *Tx) SaveLabLogs(ctx context.Context, uid string, logs LabLogs, opts WriteOptions) error {
	if err := tx.checkFence(ctx, opts.Fence); err != nil {
		return err
	}
	err := tx.g.WithContext(ctx).Exec(`INSERT INTO lab_logs (uid, output, truncated, saved_at)
		SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM lab_instances WHERE uid = ?)
		ON CONFLICT (uid) DO UPDATE SET output = excluded.output, truncated = excluded.truncated, saved_at = excluded.saved_at`,
		uid, logs.Output, logs.Truncated, logs.SavedAt.UTC(), uid).Error
	if err != nil {
		return fmt.Errorf("save lab logs: %w", err)
	}
	return nil
}

// LabLogs returns the output kept for the lab uid; found is false when
// none is.
func (tx *Tx) LabLogs(ctx context.Context, uid string) (logs LabLogs, found bool, err error) {
	var rows []struct {
		Output    string
		Truncated bool
		SavedAt   time.Time
	}
	if err := tx.g.WithContext(ctx).Raw("SELECT output, truncated, saved_at FROM lab_logs WHERE uid = ?", uid).Scan(&rows).Error; err != nil {
		return logs, false, fmt.Errorf("read lab logs: %w", err)
	}
	if len(rows) == 0 {
		return logs, false, nil
	}
	r := rows[0]
	return LabLogs{Output: r.Output, Truncated: r.Truncated, SavedAt: r.SavedAt.UTC()}, true, nil
}

// Capacity is the total the leading controller admits labs against, as it
// recorded it.
type Capacity struct {
	MilliCPU    int64
	MemoryBytes int64
	// MaxMilliCPU and MaxMemoryBytes are the most one workload can be
	// given (the engine's CPUs and memory, a cluster's largest node); 0
	// where not known.
	MaxMilliCPU    int64
	MaxMemoryBytes int64
	RecordedBy     string
	RecordedAt     time.Time
}

// RecordCapacity records the capacity of the term fenced by opts.Fence.
func (tx *Tx) RecordCapacity(ctx context.Context, c Capacity, opts WriteOptions) error {
	if err := tx.checkFence(ctx, opts.Fence); err != nil {
		return err
	}
	err := tx.g.WithContext(ctx).Exec(`INSERT INTO capacity (id, milli_cpu, memory_bytes, max_milli_cpu, max_memory_bytes, recorded_by, recorded_at)
		VALUES (1, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET milli_cpu = excluded.milli_cpu, memory_bytes = excluded.memory_bytes,
		max_milli_cpu = excluded.max_milli_cpu, max_memory_bytes = excluded.max_memory_bytes,
		recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at`,
		c.MilliCPU, c.MemoryBytes, c.MaxMilliCPU, c.MaxMemoryBytes, c.RecordedBy, c.RecordedAt.UTC()).Error
	if err != nil {
		return fmt.Errorf("record capacity: %w", err)
	}
	return nil
}

// RecordedCapacity reads the capacity a leader recorded; found is false
// before any did.
func (tx *Tx) RecordedCapacity(ctx context.Context) (c Capacity, found bool, err error) {
	var rows []Capacity
	if err := tx.g.WithContext(ctx).Raw("SELECT milli_cpu, memory_bytes, max_milli_cpu, max_memory_bytes, recorded_by, recorded_at FROM capacity WHERE id = 1").Scan(&rows).Error; err != nil {
		return c, false, fmt.Errorf("read capacity: %w", err)
	}
	if len(rows) == 0 {
		return c, false, nil
	}
	rows[0].RecordedAt = rows[0].RecordedAt.UTC()
	return rows[0], true, nil
}

// SaveLabLogs: see Tx.SaveLabLogs.
func (db *DB) SaveLabLogs(ctx context.Context, uid string, logs LabLogs, opts WriteOptions) error {
	return db.InTx(ctx, func(tx *Tx) error { return tx.SaveLabLogs(ctx, uid, logs, opts) })
}

// LabLogs: see Tx.LabLogs.
func (db *DB) LabLogs(ctx context.Context, uid string) (logs LabLogs, found bool, err error) {
	err = db.InTx(ctx, func(tx *Tx) error {
		logs, found, err = tx.LabLogs(ctx, uid)
		return err
	})
	return logs, found, err
}

// RecordCapacity: see Tx.RecordCapacity.
func (db *DB) RecordCapacity(ctx context.Context, c Capacity, opts WriteOptions) error {
	return db.InTx(ctx, func(tx *Tx) error { return tx.RecordCapacity(ctx, c, opts) })
}

// RecordedCapacity: see Tx.RecordedCapacity.
func (db *DB) RecordedCapacity(ctx context.Context) (c Capacity, found bool, err error) {
	err = db.InTx(ctx, func(tx *Tx) error {
		c, found, err = tx.RecordedCapacity(ctx)
		return err
	})
	return c, found, err
}
