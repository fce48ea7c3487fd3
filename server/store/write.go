package store

// The write path, shaped by profiles of creates (see BENCHMARKS.md): the
// object is encoded once per write and the same text goes into the row
// and the outbox; the hot statements bypass GORM's reflection and run on
// the transaction's connection directly (pgx through database/sql, which
// prepares and caches each statement per connection); and on PostgreSQL a
// create is one statement, so a create outside a caller's transaction is
// one round trip that commits the row, its labels and its outbox event
// atomically.

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// createSQL inserts a lab, its labels and its created event under one
// position, in one statement. Parameters: uid, namespace, name, phase,
// student_email, created_at, object, labels (a JSON object), event type,
// access token.
//
// The position is taken by the statement that writes the lab row, as
// doc.go requires. The stored object carries no resource_version: the
// row's and the event's columns are the truth, and decoding sets it from
// them, so that the one encoding serves both.
const createSQL = `WITH p AS (SELECT lab_position() AS pos),
lab AS (INSERT INTO lab_instances (uid, namespace, name, resource_version, generation, phase, student_email, created_at, object)
	SELECT $1, $2, $3, pos, 1, $4, $5, $6, $7 FROM p),
labels AS (INSERT INTO lab_labels (uid, key, value, namespace, name) SELECT $1, key, value, $2, $3 FROM jsonb_each_text($8::jsonb)),
event AS (INSERT INTO outbox (position, event_type, uid, namespace, name, resource_version, object, message, created_at)
	SELECT pos, $9, $1, $2, $3, pos, $7, '', $6 FROM p),
access AS (INSERT INTO lab_access (uid, token) VALUES ($1, $10))
SELECT pos FROM p`

// CreateScript is a pgbench script that runs the SQL of one create, as the
// store runs it on PostgreSQL (one statement, its own transaction): the
// baseline of labbench's create benchmark. With notify, every transaction
// also calls pg_notify, as writes did before notifications were coalesced
// (notify.go), to measure what that costs.
func CreateScript(notify bool) string {
	// The object of a lab as labbench creates it, so that the rows are of
	// the same size. pgbench would read ":60" as a variable: a space after
	// every colon keeps the JSON valid and the timestamps' size.
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := &api.LabInstanceRequest{
		Metadata: api.ObjectMeta{Name: "pb-1-123456789012345", Labels: api.StringMap{"course": "bench"}},
		Spec:     api.Spec{LabTemplate: "labrm/busybox:test", StudentEmail: "s-pb-1-123456789012345@university.edu", DurationMinutes: 60},
	}
	_ = api.PrepareCreate(l)
	l.Metadata.UID, l.Metadata.Generation, l.Metadata.CreationTimestamp = "00000000-0000-0000-0000-000000000000", 1, &now
	l.Status = api.Status{Phase: api.PhasePending}
	enc, _ := encodeObject(l)
	obj := strings.ReplaceAll(strings.ReplaceAll(enc, ":", ": "), "'", "''")
	r := strings.NewReplacer(
		"$10", "md5(random()::text)", // before $1, which it starts with
		"$1", "('u-' || :client_id::text || '-' || :r::text)",
		"$2", "'default'",
		"$3", "('pb-' || :client_id::text || '-' || :r::text)",
		"$4", "'PENDING'",
		"$5", "('s-' || :client_id::text || '@university.edu')",
		"$6", "now()",
		"$7", "'"+obj+"'",
		"$8", `'{"course":"bench"}'`,
		"$9", "'"+api.EventCreated+"'",
	)
	var s strings.Builder
	s.WriteString("\\set r random(1, 1000000000000000)\n")
	if notify {
		s.WriteString("BEGIN;\n")
	}
	s.WriteString(strings.ReplaceAll(r.Replace(createSQL), "\n", " ") + ";\n")
	if notify {
		s.WriteString("SELECT pg_notify('" + notifyChannel + "', '');\nCOMMIT;\n")
	}
	return s.String()
}

// encodeObject encodes l as stored: without resource_version, which the
// columns hold (see createSQL).
func encodeObject(l *api.LabInstanceRequest) (string, error) {
	rv := l.Metadata.ResourceVersion
	l.Metadata.ResourceVersion = 0
	b, err := json.Marshal(l)
	l.Metadata.ResourceVersion = rv
	if err != nil {
		return "", fmt.Errorf("encode lab: %w", err)
	}
	return string(b), nil
}

// labelsJSON is the labels as createSQL takes them.
func labelsJSON(labels api.StringMap) string {
	if len(labels) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(map[string]string(labels))
	return string(b)
}

// conn is the connection the transaction runs on, for statements that
// skip GORM's reflection.
func (tx *Tx) conn() gorm.ConnPool { return tx.g.Statement.ConnPool }

// rebind turns ? placeholders into PostgreSQL's $n.
func (db *DB) rebind(q string) string {
	if !db.postgres || !strings.Contains(q, "?") {
		return q
	}
	var s strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			s.WriteString("$" + strconv.Itoa(n))
			continue
		}
		s.WriteRune(r)
	}
	return s.String()
}

func (tx *Tx) execSQL(ctx context.Context, q string, args ...any) (sql.Result, error) {
	res, err := tx.conn().ExecContext(ctx, tx.db.rebind(q), args...)
	return res, tx.db.translate(err)
}

// translate maps driver errors to GORM's (gorm.ErrDuplicatedKey, ...), as
// GORM does for its own statements, and classifies availability errors
// (unavailable.go): the statements the store runs without GORM or outside
// inTx go through here.
func (db *DB) translate(err error) error {
	if err == nil {
		return nil
	}
	if t, ok := db.g.Dialector.(gorm.ErrorTranslator); ok {
		err = t.Translate(err)
	}
	return classify(err)
}

// insertLab writes a new lab's row, labels and created event. On
// PostgreSQL that is createSQL on q (the caller's transaction, or the
// pool: then it commits on its own).
func (db *DB) insertLab(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, l *api.LabInstanceRequest, obj string, now time.Time) (int64, error) {
	var pos int64
	err := q.QueryRowContext(ctx, createSQL, l.Metadata.UID, l.Metadata.Namespace, l.Metadata.Name, string(l.Status.Phase),
		strings.ToLower(l.Spec.StudentEmail), now, obj, labelsJSON(l.Metadata.Labels), api.EventCreated, newAccessToken()).Scan(&pos)
	return pos, db.translate(err)
}

// insertLabRows is insertLab for SQLite, statement by statement in tx.
func (tx *Tx) insertLabRows(ctx context.Context, l *api.LabInstanceRequest, obj string, now time.Time) (int64, error) {
	pos, err := tx.pos(ctx)
	if err != nil {
		return 0, err
	}
	_, err = tx.execSQL(ctx, `INSERT INTO lab_instances (uid, namespace, name, resource_version, generation, phase, student_email, deleting, created_at, object)
		VALUES (?, ?, ?, ?, 1, ?, ?, false, ?, ?)`, l.Metadata.UID, l.Metadata.Namespace, l.Metadata.Name, pos, string(l.Status.Phase),
		strings.ToLower(l.Spec.StudentEmail), now, obj)
	if err != nil {
		return 0, err
	}
	if err := tx.writeLabels(ctx, l, nil); err != nil {
		return 0, err
	}
	if err := tx.insertAccess(ctx, l.Metadata.UID); err != nil {
		return 0, err
	}
	l.Metadata.ResourceVersion = pos
	return pos, tx.insertEventObject(ctx, l, obj, api.EventCreated, "")
}

// updateSQL is a controller write on PostgreSQL in one statement: the lab
// row, written only if its version is still $6 and, with a fence ($7 not
// 0), only while that is the current leader epoch, and two outbox events
// under the new position, its change ($8) and the controller's ($12, with
// message $13). Parameters: uid, generation, phase, deleting, object,
// expected version, fence, change event type, namespace, name, time,
// controller event type, message. It returns the new position (NULL when
// nothing was written) and the current epoch (NULL without a fence).
//
// The epoch row is locked FOR SHARE as checkFence locks it, so a new
// leader's StartTerm waits for this statement to commit. The position is
// the statement's transaction id, taken before the row is written, and the
// UPDATE re-checks resource_version after waiting for a concurrent writer:
// the reasoning of doc.go holds for one statement as for a transaction.
const updateSQL = `WITH f AS (SELECT epoch FROM leader_term WHERE id = 1 AND $7::bigint <> 0 FOR SHARE),
p AS (SELECT lab_position() AS pos),
u AS (UPDATE lab_instances SET resource_version = p.pos, generation = $2, phase = $3, deleting = $4, object = $5
	FROM p WHERE uid = $1 AND resource_version = $6 AND ($7::bigint = 0 OR $7::bigint = (SELECT epoch FROM f))
	RETURNING p.pos),
e AS (INSERT INTO outbox (position, event_type, uid, namespace, name, resource_version, object, message, created_at)
	SELECT pos, $8, $1, $9, $10, pos, $5, '', $11::timestamptz FROM u
	UNION ALL
	SELECT pos, $12, $1, $9, $10, pos, $5, $13, $11::timestamptz FROM u)
SELECT (SELECT pos FROM u), (SELECT epoch FROM f)`

// UpdateLabAt is the controller's write: mutate applied to cur, the lab as
// read at cur's resource_version (which must still be the stored one:
// otherwise api.ECONFLICT), fenced by fence (api.EFENCED once another
// leader's term has begun), with the change's event and an event of
// eventType with message (empty: the lab's new phase), all or nothing. It
// returns the lab as written, or cur when mutate changed nothing (then
// nothing is written). mutate may run more than once.
//
// On PostgreSQL the common write (labels unchanged, not the removal of a
// deleted lab's last finalizer) is updateSQL: one round trip instead of
// the nine of a transaction that reads the row, asks for a position,
// writes, checks the fence and writes each event. Anything else takes the
// transaction.
func (db *DB) UpdateLabAt(ctx context.Context, cur *api.LabInstanceRequest, fence int64, eventType, message string, mutate Mutator) (*api.LabInstanceRequest, error) {
	opts := WriteOptions{ExpectedVersion: cur.Metadata.ResourceVersion, Fence: fence}
	if db.postgres {
		next, changeType, err := prepareUpdate(cur, mutate)
		switch {
		case err != nil:
			return nil, err
		case next == nil:
			return cur, nil
		case maps.Equal(cur.Metadata.Labels, next.Metadata.Labels) &&
			(next.Metadata.DeletionTimestamp == nil || len(next.Metadata.Finalizers) > 0):
			return db.updateOne(ctx, cur, next, changeType, eventType, cmp.Or(message, string(next.Status.Phase)), opts)
		}
	}
	var out *api.LabInstanceRequest
	err := db.InTx(ctx, func(tx *Tx) error {
		o, err := tx.UpdateLab(ctx, cur.Key(), opts, mutate)
		if err != nil {
			return err
		}
		if o.Metadata.ResourceVersion == cur.Metadata.ResourceVersion {
			out = cur
			return nil
		}
		out = o
		return tx.AppendEvent(ctx, o, eventType, cmp.Or(message, string(o.Status.Phase)), opts)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// updateOne runs updateSQL for next, prepared from cur.
func (db *DB) updateOne(ctx context.Context, cur, next *api.LabInstanceRequest, changeType, eventType, message string, opts WriteOptions) (*api.LabInstanceRequest, error) {
	obj, err := encodeObject(next)
	if err != nil {
		return nil, err
	}
	var pos, epoch sql.NullInt64
	err = db.sqlDB.QueryRowContext(ctx, updateSQL, next.Metadata.UID, next.Metadata.Generation, string(next.Status.Phase),
		next.Metadata.DeletionTimestamp != nil, obj, opts.ExpectedVersion, opts.Fence, changeType,
		next.Metadata.Namespace, next.Metadata.Name, db.now().UTC(), eventType, message).Scan(&pos, &epoch)
	if err != nil {
		return nil, fmt.Errorf("update lab: %w", db.translate(err))
	}
	if !pos.Valid {
		if opts.Fence != 0 && epoch.Int64 != opts.Fence {
			return nil, fencedError(opts.Fence, epoch.Int64)
		}
		// Changed or deleted since cur was read.
		var now int64
		err := db.sqlDB.QueryRowContext(ctx, `SELECT resource_version FROM lab_instances WHERE uid = $1`, cur.Metadata.UID).Scan(&now)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, api.Errorf(api.ENOTFOUND, "lab instance %s not found", cur.Key())
		}
		if err != nil {
			return nil, fmt.Errorf("update lab: %w", db.translate(err))
		}
		db.conflict()
		return nil, staleError(cur.Key(), opts.ExpectedVersion, now)
	}
	next.Metadata.ResourceVersion = pos.Int64
	db.wake()
	return next, nil
}
