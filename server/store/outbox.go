package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"gorm.io/gorm/clause"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

type eventRow struct {
	ID              int64 `gorm:"primaryKey"`
	Position        int64
	EventType       string
	UID             string `gorm:"column:uid"`
	Namespace       string
	Name            string
	ResourceVersion int64
	Object          string
	Message         string
	CreatedAt       time.Time
}

func (eventRow) TableName() string { return "outbox" }

func (r *eventRow) event() (Event, error) {
	ev := Event{ID: r.ID, Position: r.Position, Type: r.EventType, UID: r.UID,
		Key: api.Key{Namespace: r.Namespace, Name: r.Name}, Message: r.Message, Time: r.CreatedAt.UTC()}
	var l api.LabInstanceRequest
	if err := json.Unmarshal([]byte(r.Object), &l); err != nil {
		return ev, fmt.Errorf("decode event %d: %w", r.ID, err)
	}
	l.Metadata.ResourceVersion = r.ResourceVersion
	ev.Object = &l
	return ev, nil
}

// pos returns this transaction's position, assigning it on first use. On
// PostgreSQL that assigns the transaction an xid: callers ask for it in
// their first write, so that a lab's versions grow in the order its writes
// commit (see doc.go).
func (tx *Tx) pos(ctx context.Context) (int64, error) {
	if tx.position != 0 {
		return tx.position, nil
	}
	q := "UPDATE position_seq SET value = value + 1 WHERE id = 1 RETURNING value"
	if tx.db.postgres {
		q = "SELECT lab_position()"
	}
	var p int64
	if err := tx.conn().QueryRowContext(ctx, q).Scan(&p); err != nil {
		return 0, fmt.Errorf("assign position: %w", err)
	}
	if p == 0 {
		return 0, fmt.Errorf("assign position: got none")
	}
	tx.position = p
	return p, nil
}

// insertEvent writes an outbox row in the caller's transaction and wakes
// readers once the transaction commits.
func (tx *Tx) insertEvent(ctx context.Context, l *api.LabInstanceRequest, eventType, message string) error {
	obj, err := encodeObject(l)
	if err != nil {
		return err
	}
	return tx.insertEventObject(ctx, l, obj, eventType, message)
}

// insertEventObject is insertEvent with l already encoded (encodeObject),
// so that a write encodes its object once for the row and the event.
func (tx *Tx) insertEventObject(ctx context.Context, l *api.LabInstanceRequest, obj, eventType, message string) error {
	pos, err := tx.pos(ctx)
	if err != nil {
		return err
	}
	_, err = tx.execSQL(ctx, `INSERT INTO outbox (position, event_type, uid, namespace, name, resource_version, object, message, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, pos, eventType, l.Metadata.UID, l.Metadata.Namespace, l.Metadata.Name,
		l.Metadata.ResourceVersion, obj, message, tx.db.now().UTC())
	if err != nil {
		return fmt.Errorf("insert outbox event: %w", err)
	}
	tx.wroteEvent()
	return nil
}

// wroteEvent arranges the wake-ups of outbox readers once the transaction
// commits: this process's at once, other replicas' through the coalescing
// notifier (notify.go).
func (tx *Tx) wroteEvent() {
	if !tx.wrote {
		tx.wrote = true
		tx.afterCommit = append(tx.afterCommit, tx.db.wake)
	}
}

// AppendEvent records a controller event (reconciled, finalized, ...) about
// l without changing it, under the same fencing as any controller write.
func (tx *Tx) AppendEvent(ctx context.Context, l *api.LabInstanceRequest, eventType, message string, opts WriteOptions) error {
	if err := tx.insertEvent(ctx, l, eventType, message); err != nil {
		return err
	}
	return tx.checkFence(ctx, opts.Fence)
}

// ReadEvents returns the events of up to limit transactions with positions
// above after, oldest first. On PostgreSQL it reads, in one statement and
// so in one snapshot, only below the horizon of transactions still running:
// a row whose transaction commits later has a position at or above the
// horizon and is read by a later call, never skipped. Whole transactions
// are returned so that a reader can bookmark a position.
func (tx *Tx) ReadEvents(ctx context.Context, after int64, limit int) ([]Event, error) {
	limit = max(limit, 1)
	horizon := "9223372036854775807"
	if tx.db.postgres {
		horizon = "lab_horizon()"
	}
	var rows []eventRow
	err := tx.g.WithContext(ctx).Raw(`
		SELECT o.* FROM outbox o
		WHERE o.position IN (
			SELECT DISTINCT position FROM outbox
			WHERE position > ? AND position < `+horizon+`
			ORDER BY position LIMIT ?)
		ORDER BY o.position, o.id`, after, limit).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	out := make([]Event, 0, len(rows))
	for i := range rows {
		if i > 0 && rows[i].Position == rows[i-1].Position && rows[i].UID == rows[i-1].UID &&
			rows[i].ResourceVersion == rows[i-1].ResourceVersion && rows[i].Object == rows[i-1].Object {
			// A write's events (its change, the controller's reconciled)
			// carry one object: decode it once.
			prev := out[i-1]
			ev := Event{ID: rows[i].ID, Position: rows[i].Position, Type: rows[i].EventType, UID: rows[i].UID,
				Key: api.Key{Namespace: rows[i].Namespace, Name: rows[i].Name}, Message: rows[i].Message, Time: rows[i].CreatedAt.UTC(), Object: prev.Object.DeepCopy()}
			out = append(out, ev)
			continue
		}
		ev, err := rows[i].event()
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// EventBounds returns floor, below which events may have been pruned (a
// reader resuming from a position under it must relist: api.EGONE), and
// current, the newest position written.
func (tx *Tx) EventBounds(ctx context.Context) (floor, current int64, err error) {
	var row struct{ Floor, Current int64 }
	err = tx.g.WithContext(ctx).Raw(`SELECT
		(SELECT position FROM outbox_floor WHERE id = 1) AS floor,
		(SELECT COALESCE(MAX(position), 0) FROM outbox) AS current`).Scan(&row).Error
	if err != nil {
		return 0, 0, fmt.Errorf("read outbox bounds: %w", err)
	}
	return row.Floor, max(row.Current, row.Floor), nil
}

// CheckResume returns api.EGONE when a reader at position after can no
// longer see every later event.
func (tx *Tx) CheckResume(ctx context.Context, after int64) error {
	floor, _, err := tx.EventBounds(ctx)
	if err != nil {
		return err
	}
	if after < floor {
		return api.Errorf(api.EGONE, "resource_version %d is too old: changes up to %d have been pruned; list again and watch from the list's resource_version", after, floor)
	}
	return nil
}

// LockBookmark returns watcher name's bookmark, locked until the
// transaction ends so that two instances of a watcher cannot both advance
// it. A watcher seen for the first time starts at initial.
func (tx *Tx) LockBookmark(ctx context.Context, name string, initial int64) (int64, error) {
	g := tx.g.WithContext(ctx)
	err := g.Exec("INSERT INTO watcher_bookmarks (name, position, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
		name, initial, tx.db.now().UTC()).Error
	if err != nil {
		return 0, fmt.Errorf("create bookmark %s: %w", name, err)
	}
	q := g.Table("watcher_bookmarks").Select("position").Where("name = ?", name)
	if tx.db.postgres {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var pos int64
	if err := q.Scan(&pos).Error; err != nil {
		return 0, fmt.Errorf("lock bookmark %s: %w", name, err)
	}
	return pos, nil
}

// SetBookmark stores watcher name's position.
func (tx *Tx) SetBookmark(ctx context.Context, name string, position int64) error {
	err := tx.g.WithContext(ctx).Exec("UPDATE watcher_bookmarks SET position = ?, updated_at = ? WHERE name = ?",
		position, tx.db.now().UTC(), name).Error
	if err != nil {
		return fmt.Errorf("set bookmark %s: %w", name, err)
	}
	return nil
}

// DeleteBookmark forgets watcher name, for watchers that no longer run
// (a CloudEvents sink removed from the configuration): a bookmark left
// behind would stop pruning for ever.
func (tx *Tx) DeleteBookmark(ctx context.Context, name string) error {
	if err := tx.g.WithContext(ctx).Exec("DELETE FROM watcher_bookmarks WHERE name = ?", name).Error; err != nil {
		return fmt.Errorf("delete bookmark %s: %w", name, err)
	}
	return nil
}

// Bookmarks reports every watcher's progress; lag counts the events after
// its bookmark.
func (tx *Tx) Bookmarks(ctx context.Context) ([]api.WatcherBookmark, error) {
	_, current, err := tx.EventBounds(ctx)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		Name     string
		Position int64
		Lag      int64
	}
	err = tx.g.WithContext(ctx).Raw(`SELECT b.name, b.position,
		(SELECT COUNT(*) FROM outbox o WHERE o.position > b.position) AS lag
		FROM watcher_bookmarks b ORDER BY b.name`).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("read bookmarks: %w", err)
	}
	out := make([]api.WatcherBookmark, 0, len(rows))
	for _, r := range rows {
		out = append(out, api.WatcherBookmark{Name: r.Name, Bookmark: r.Position, CurrentVersion: max(current, r.Position), Lag: r.Lag})
	}
	return out, nil
}

// PruneEvents deletes events that every watcher has passed and that are
// older than cutoff, and raises the floor past them so that readers
// resuming from before it are told to relist instead of silently missing
// them. It returns how many events it deleted.
func (tx *Tx) PruneEvents(ctx context.Context, cutoff time.Time) (int64, error) {
	g := tx.g.WithContext(ctx)
	var below int64 = math.MaxInt64
	var minBookmark *int64
	if err := g.Raw("SELECT MIN(position) FROM watcher_bookmarks").Scan(&minBookmark).Error; err != nil {
		return 0, fmt.Errorf("prune outbox: %w", err)
	}
	if minBookmark != nil {
		below = *minBookmark + 1 // a bookmark's own position has been handled
	}
	horizon := "9223372036854775807"
	if tx.db.postgres {
		horizon = "lab_horizon()" // never past a transaction that may still add rows below
	}
	var top *int64
	if err := g.Raw("SELECT MAX(position) FROM outbox WHERE position < ? AND position < "+horizon+" AND created_at < ?", below, cutoff.UTC()).Scan(&top).Error; err != nil {
		return 0, fmt.Errorf("prune outbox: %w", err)
	}
	if top == nil {
		return 0, nil
	}
	res := g.Exec("DELETE FROM outbox WHERE position <= ? AND created_at < ?", *top, cutoff.UTC())
	if res.Error != nil {
		return 0, fmt.Errorf("prune outbox: %w", res.Error)
	}
	if err := g.Exec("UPDATE outbox_floor SET position = ? WHERE id = 1 AND position < ?", *top, *top).Error; err != nil {
		return 0, fmt.Errorf("raise outbox floor: %w", err)
	}
	return res.RowsAffected, nil
}
