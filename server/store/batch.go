package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"strings"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// LabUpdate is one lab of a batched controller write (UpdateLabsAt): the
// lab as read, and the change to make to it.
type LabUpdate struct {
	Cur    *api.LabInstanceRequest
	Mutate Mutator
}

// updateBatchSQL is updateSQL for many labs in one statement, under one
// position: $1 fence; arrays $2 uid, $3 expected version, $4 object,
// $5 change event type, $6 phase, $7 generation, $8 deleting, $11
// message; $9 time, $10 controller event type. It returns the epoch (NULL
// without a fence), the position, and the uids written, comma-separated.
const updateBatchSQL = `WITH f AS (SELECT epoch FROM leader_term WHERE id = 1 AND $1::bigint <> 0 FOR SHARE),
p AS (SELECT lab_position() AS pos),
v AS (SELECT * FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bool[], $11::text[])
	AS v(uid, expected, object, change, phase, generation, deleting, message)),
u AS (UPDATE lab_instances l SET resource_version = p.pos, generation = v.generation, phase = v.phase, deleting = v.deleting,
		object = v.object::jsonb
	FROM p, v WHERE l.uid = v.uid AND l.resource_version = v.expected AND ($1::bigint = 0 OR $1::bigint = (SELECT epoch FROM f))
	RETURNING l.uid, l.namespace, l.name, p.pos, v.object, v.change, v.message),
e AS (INSERT INTO outbox (position, event_type, uid, namespace, name, resource_version, object, message, created_at)
	SELECT pos, change, uid, namespace, name, pos, object::jsonb, '', $9::timestamptz FROM u
	UNION ALL
	SELECT pos, $10, uid, namespace, name, pos, object::jsonb, message, $9::timestamptz FROM u)
SELECT (SELECT epoch FROM f), (SELECT pos FROM p), COALESCE((SELECT string_agg(uid, ',') FROM u), '')`

// UpdateLabsAt is UpdateLabAt for many labs at once, for the controller's
// writes that are many and small (the place of each lab waiting for
// capacity): one statement on PostgreSQL, one transaction on SQLite,
// instead of one each. A lab that changed since it was read, or was
// deleted, is left out: its result is nil, and its own event will bring
// it back. A lab mutate leaves as it was gives cur. The message of the
// events of eventType is message, or the lab's phase. Fenced, it writes
// nothing and returns api.EFENCED.
//
// Labs whose labels change, or whose deletion completes, are written one
// by one (UpdateLabAt): updateBatchSQL writes neither labels nor deletes.
func (db *DB) UpdateLabsAt(ctx context.Context, fence int64, eventType, message string, updates []LabUpdate) ([]*api.LabInstanceRequest, error) {
	out := make([]*api.LabInstanceRequest, len(updates))
	if !db.postgres {
		err := db.InTx(ctx, func(tx *Tx) error {
			for i, u := range updates {
				opts := WriteOptions{ExpectedVersion: u.Cur.Metadata.ResourceVersion, Fence: fence}
				o, err := tx.UpdateLab(ctx, u.Cur.Key(), opts, u.Mutate)
				switch {
				case api.IsConflict(err) || api.IsNotFound(err):
					continue
				case err != nil:
					return err
				case o.Metadata.ResourceVersion == u.Cur.Metadata.ResourceVersion:
					out[i] = u.Cur
					continue
				}
				if err := tx.AppendEvent(ctx, o, eventType, cmp.Or(message, string(o.Status.Phase)), opts); err != nil {
					return err
				}
				out[i] = o
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		return out, nil
	}

	var (
		uids, objs, changes, phases, msgs []string
		expected, generations             []int64
		deleting                          []bool
		nexts                             = map[string]int{} // uid -> index in updates
	)
	for i, u := range updates {
		next, change, err := prepareUpdate(u.Cur, u.Mutate)
		switch {
		case api.IsConflict(err) || api.ErrorCode(err) == api.EINVALID:
			continue // a rule the write breaks: left out, as a conflict would be
		case err != nil:
			return nil, err
		case next == nil:
			out[i] = u.Cur
			continue
		case !maps.Equal(u.Cur.Metadata.Labels, next.Metadata.Labels) ||
			(next.Metadata.DeletionTimestamp != nil && len(next.Metadata.Finalizers) == 0):
			o, err := db.UpdateLabAt(ctx, u.Cur, fence, eventType, message, u.Mutate)
			switch {
			case api.IsConflict(err) || api.IsNotFound(err):
			case err != nil:
				return nil, err
			default:
				out[i] = o
			}
			continue
		}
		if _, dup := nexts[next.Metadata.UID]; dup {
			continue // once per lab; the other's event brings it back
		}
		obj, err := encodeObject(next)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, cmp.Or(message, string(next.Status.Phase)))
		nexts[next.Metadata.UID] = i
		out[i] = next
		uids, objs, changes, phases = append(uids, next.Metadata.UID), append(objs, obj), append(changes, change), append(phases, string(next.Status.Phase))
		expected, generations = append(expected, u.Cur.Metadata.ResourceVersion), append(generations, next.Metadata.Generation)
		deleting = append(deleting, next.Metadata.DeletionTimestamp != nil)
	}
	if len(uids) == 0 {
		return out, nil
	}
	var epoch, pos sql.NullInt64
	var written string
	err := db.sqlDB.QueryRowContext(ctx, updateBatchSQL, fence, uids, expected, objs, changes, phases, generations, deleting,
		db.now().UTC(), eventType, msgs).Scan(&epoch, &pos, &written)
	if err != nil {
		return nil, fmt.Errorf("update labs: %w", db.translate(err))
	}
	if fence != 0 && epoch.Int64 != fence {
		return nil, fencedError(fence, epoch.Int64)
	}
	done := map[string]bool{}
	for _, uid := range strings.Split(written, ",") {
		done[uid] = true
	}
	for uid, i := range nexts {
		if !done[uid] {
			out[i] = nil // changed or deleted since it was read
			db.conflict()
			continue
		}
		out[i].Metadata.ResourceVersion = pos.Int64
	}
	if len(done) > 0 && written != "" {
		db.wake()
	}
	return out, nil
}
