package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// labRow is a lab_instances row. The object column holds the whole lab as
// JSON; the other columns exist to be indexed and to version the row, and
// win over the JSON's copies when a lab is read.
type labRow struct {
	UID             string `gorm:"column:uid;primaryKey"`
	Namespace       string
	Name            string
	ResourceVersion int64
	Generation      int64
	Phase           string
	StudentEmail    string
	Deleting        bool
	CreatedAt       time.Time
	Object          string
	// ListPosition is read by list queries on PostgreSQL: the list's
	// position, from the page's own statement (one round trip fewer).
	ListPosition int64 `gorm:"column:list_position;->"`
}

func (labRow) TableName() string { return "lab_instances" }

func (r *labRow) decode() (*api.LabInstanceRequest, error) {
	var l api.LabInstanceRequest
	if err := json.Unmarshal([]byte(r.Object), &l); err != nil {
		return nil, fmt.Errorf("decode lab %s/%s: %w", r.Namespace, r.Name, err)
	}
	l.APIVersion, l.Kind = api.APIVersion, api.Kind
	l.Metadata.UID = r.UID
	l.Metadata.Namespace, l.Metadata.Name = r.Namespace, r.Name
	l.Metadata.ResourceVersion = r.ResourceVersion
	l.Metadata.Generation = r.Generation
	return &l, nil
}

func encodeLab(l *api.LabInstanceRequest) (string, error) {
	b, err := json.Marshal(l)
	if err != nil {
		return "", fmt.Errorf("encode lab: %w", err)
	}
	return string(b), nil
}

// CreateLab stores a new lab in phase PENDING and writes its created event.
// in is prepared (api.PrepareCreate: server-owned fields cleared, defaults
// filled in, validated) whoever the caller is.
func (tx *Tx) CreateLab(ctx context.Context, in *api.LabInstanceRequest) (*api.LabInstanceRequest, error) {
	return tx.db.createLab(ctx, tx, in)
}

// createLab is CreateLab in tx, or, with tx nil, in a transaction of its
// own: on PostgreSQL that is one statement on the pool (createSQL).
func (db *DB) createLab(ctx context.Context, tx *Tx, in *api.LabInstanceRequest) (*api.LabInstanceRequest, error) {
	l := in.DeepCopy()
	if err := api.PrepareCreate(l); err != nil {
		return nil, err
	}
	now := db.now().UTC().Truncate(time.Microsecond)
	l.Metadata.UID = uuid.NewString()
	l.Metadata.Generation = 1
	l.Metadata.CreationTimestamp = &now
	l.Metadata.DeletionTimestamp = nil
	l.Status = api.Status{Phase: api.PhasePending}
	obj, err := encodeObject(l)
	if err != nil {
		return nil, err
	}
	var pos int64
	switch {
	case db.postgres && tx == nil:
		if pos, err = db.insertLab(ctx, db.sqlDB, l, obj, now); err == nil {
			db.wake()
		}
	case db.postgres:
		if pos, err = db.insertLab(ctx, tx.conn(), l, obj, now); err == nil {
			tx.position = pos
			tx.wroteEvent()
		}
	case tx == nil:
		err = db.InTx(ctx, func(tx *Tx) error {
			pos, err = tx.insertLabRows(ctx, l, obj, now)
			return err
		})
	default:
		pos, err = tx.insertLabRows(ctx, l, obj, now)
	}
	if err != nil {
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return nil, api.Errorf(api.EALREADYEXISTS, "lab instance %s already exists", l.Key())
		}
		return nil, fmt.Errorf("insert lab: %w", err)
	}
	l.Metadata.ResourceVersion = pos
	return l, nil
}

// GetLab returns a lab, or api.ENOTFOUND.
func (tx *Tx) GetLab(ctx context.Context, key api.Key) (*api.LabInstanceRequest, error) {
	row, err := tx.getRow(ctx, key)
	if err != nil {
		return nil, err
	}
	return row.decode()
}

func (tx *Tx) getRow(ctx context.Context, key api.Key) (*labRow, error) {
	var r labRow
	err := tx.conn().QueryRowContext(ctx, tx.db.rebind(`SELECT uid, namespace, name, resource_version, generation, phase, student_email, deleting, created_at, object
		FROM lab_instances WHERE namespace = ? AND name = ?`), key.Namespace, key.Name).
		Scan(&r.UID, &r.Namespace, &r.Name, &r.ResourceVersion, &r.Generation, &r.Phase, &r.StudentEmail, &r.Deleting, &r.CreatedAt, &r.Object)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, api.Errorf(api.ENOTFOUND, "lab instance %s not found", key)
	}
	if err != nil {
		return nil, fmt.Errorf("get lab: %w", tx.db.translate(err))
	}
	return &r, nil
}

// continueToken is the keyset position after which the next page starts.
type continueToken struct {
	Namespace string `json:"ns"`
	Name      string `json:"n"`
}

func encodeContinue(ns, name string) string {
	b, _ := json.Marshal(continueToken{Namespace: ns, Name: name})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinue(s string) (continueToken, error) {
	var t continueToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil || t.Name == "" {
		return t, &api.Error{Code: api.EBADREQUEST, Message: "invalid continue token",
			Fields: []api.FieldError{{Field: "continue", Message: "is not a token this server issued; start the list again without it"}}}
	}
	return t, nil
}

// ListLabs returns one page of labs ordered by namespace and name. Its
// resource_version is a position from which a watch sees every change the
// list did not (and possibly a few it did: consumers must be idempotent).
func (tx *Tx) ListLabs(ctx context.Context, opts ListOptions) (*api.LabInstanceRequestList, error) {
	limit := opts.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	q, err := tx.listQuery(ctx, opts, limit)
	if err != nil {
		return nil, err
	}
	var rows []labRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list labs: %w", err)
	}
	list := &api.LabInstanceRequestList{APIVersion: api.APIVersion, Kind: api.ListKind, Items: []api.LabInstanceRequest{}}
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[len(rows)-1]
		list.Metadata.Continue = encodeContinue(last.Namespace, last.Name)
	}
	for i := range rows {
		l, err := rows[i].decode()
		if err != nil {
			return nil, err
		}
		list.Items = append(list.Items, *l)
	}
	rv := int64(0)
	if tx.db.postgres && len(rows) > 0 {
		rv = rows[0].ListPosition
	} else if rv, err = tx.listPosition(ctx); err != nil {
		return nil, err
	}
	list.Metadata.ResourceVersion = rv
	return list, nil
}

// listQuery builds a page query: every filter has an index, and keyset
// pagination on (namespace, name) follows the unique index. A label
// selector is driven from lab_labels, whose index on (key, value,
// namespace, name) gives the labs with the first label in page order
// (migration 0003): a page reads about as many entries as it returns,
// however many labs have the label. Further labels are probed per lab.
func (tx *Tx) listQuery(ctx context.Context, opts ListOptions, limit int) (*gorm.DB, error) {
	q := tx.g.WithContext(ctx).Model(&labRow{})
	// On PostgreSQL the page carries the list's position, computed once
	// (an InitPlan) in the page's snapshot.
	position := ""
	if tx.db.postgres {
		position = ", (SELECT lab_horizon() - 1) AS list_position"
	}
	q = q.Select("lab_instances.*" + position)
	col := func(c string) string { return c }
	keys := slices.Sorted(maps.Keys(opts.LabelSelector))
	if len(keys) > 0 {
		q = q.Table("lab_labels AS ll").Select("li.*"+position).Joins("JOIN lab_instances li ON li.uid = ll.uid").
			Where("ll.key = ? AND ll.value = ?", keys[0], opts.LabelSelector[keys[0]])
		col = func(c string) string {
			if c == "namespace" || c == "name" {
				return "ll." + c // the driving index's copy
			}
			return "li." + c
		}
	}
	if opts.Namespace != "" {
		q = q.Where(col("namespace")+" = ?", opts.Namespace)
	}
	if opts.Phase != "" {
		q = q.Where(col("phase")+" = ?", string(opts.Phase))
	}
	if opts.StudentEmail != "" {
		q = q.Where(col("student_email")+" = ?", strings.ToLower(opts.StudentEmail))
	}
	// Further labels are probed per lab through the primary key (uid,
	// key). A scalar subquery, not EXISTS: the planner may turn an EXISTS
	// into a join driven from the other label, and did so with statistics
	// a bulk load had left stale (85 ms instead of 3 at 100,000 labs); a
	// correlated scalar subquery stays a probe of the ordered walk.
	for _, k := range keys[min(1, len(keys)):] {
		q = q.Where("(SELECT l2.value FROM lab_labels l2 WHERE l2.uid = "+col("uid")+" AND l2.key = ?) = ?", k, opts.LabelSelector[k])
	}
	if opts.Continue != "" {
		t, err := decodeContinue(opts.Continue)
		if err != nil {
			return nil, err
		}
		// A row comparison, which the index walks from, where an OR of
		// comparisons would be a filter over every entry before the page.
		q = q.Where("("+col("namespace")+", "+col("name")+") > (?, ?)", t.Namespace, t.Name)
	}
	return q.Order(col("namespace") + ", " + col("name")).Limit(limit + 1), nil
}

// listPosition is the position a list in this transaction's snapshot
// reflects completely: on PostgreSQL just below the oldest transaction
// still running when the snapshot was taken.
func (tx *Tx) listPosition(ctx context.Context) (int64, error) {
	q := "SELECT value FROM position_seq WHERE id = 1"
	if tx.db.postgres {
		q = "SELECT lab_horizon() - 1"
	}
	var p int64
	if err := tx.g.WithContext(ctx).Raw(q).Scan(&p).Error; err != nil {
		return 0, fmt.Errorf("read list position: %w", err)
	}
	return p, nil
}

// UpdateLab applies mutate to the current version and stores the result
// if it changed anything. It is optimistic: the row is written only if its
// resource_version is still the one mutate saw (and, with
// opts.ExpectedVersion, the one the caller saw); otherwise api.ECONFLICT.
// Every rule that must hold for any writer is checked here: validation,
// immutable fields, the phase state machine, finalizers after deletion.
func (tx *Tx) UpdateLab(ctx context.Context, key api.Key, opts WriteOptions, mutate Mutator) (*api.LabInstanceRequest, error) {
	row, err := tx.getRow(ctx, key)
	if err != nil {
		return nil, err
	}
	if opts.ExpectedVersion != 0 && opts.ExpectedVersion != row.ResourceVersion {
		tx.db.conflict()
		return nil, staleError(key, opts.ExpectedVersion, row.ResourceVersion)
	}
	cur, err := row.decode()
	if err != nil {
		return nil, err
	}
	next, eventType, err := prepareUpdate(cur, mutate)
	if err != nil {
		return nil, err
	}
	if next == nil {
		return cur, nil // nothing to write
	}
	if next.Metadata.DeletionTimestamp != nil && len(next.Metadata.Finalizers) == 0 {
		return next, tx.deleteRow(ctx, row, next, opts)
	}
	obj, err := tx.updateRow(ctx, row, next, opts)
	if err != nil {
		return nil, err
	}
	if err := tx.writeLabels(ctx, next, cur.Metadata.Labels); err != nil {
		return nil, err
	}
	if err := tx.insertEventObject(ctx, next, obj, eventType, ""); err != nil {
		return nil, err
	}
	return next, nil
}

// prepareUpdate applies mutate to a copy of cur and checks the result
// against the rules every writer obeys. It returns the lab to store and
// its event type, or nil when mutate changed nothing.
func prepareUpdate(cur *api.LabInstanceRequest, mutate Mutator) (*api.LabInstanceRequest, string, error) {
	next := cur.DeepCopy()
	if err := mutate(next); err != nil {
		return nil, "", err
	}
	if err := checkUpdate(cur, next); err != nil {
		return nil, "", err
	}
	same, err := sameObject(cur, next)
	if err != nil || same {
		return nil, "", err
	}
	eventType := api.EventStatusUpdated
	if !api.SpecEqual(&cur.Spec, &next.Spec) {
		next.Metadata.Generation++
	}
	if !metaSpecEqual(cur, next) {
		eventType = api.EventUpdated
	}
	return next, eventType, nil
}

func staleError(key api.Key, want, have int64) error {
	return staleErr{api.Errorf(api.ECONFLICT, "lab instance %s was modified: resource_version is %d, not %d; read it again and retry", key, have, want)}
}

// staleErr marks the conflicts that a retry on fresh data can resolve, as
// opposed to a forbidden phase transition.
type staleErr struct{ err *api.Error }

func (e staleErr) Error() string { return e.err.Error() }
func (e staleErr) Unwrap() error { return e.err }

// checkUpdate enforces the rules every writer obeys.
func checkUpdate(cur, next *api.LabInstanceRequest) error {
	// Versioning fields are the store's to set.
	next.APIVersion, next.Kind = api.APIVersion, api.Kind
	next.Metadata.ResourceVersion = cur.Metadata.ResourceVersion
	next.Metadata.Generation = cur.Metadata.Generation
	if next.Metadata.UID != cur.Metadata.UID {
		return api.Errorf(api.EINVALID, "metadata.uid is immutable")
	}
	if !timeEqual(next.Metadata.CreationTimestamp, cur.Metadata.CreationTimestamp) {
		return api.Errorf(api.EINVALID, "metadata.creation_timestamp is immutable")
	}
	if err := api.ValidateUpdate(cur, next); err != nil {
		return err
	}
	return checkTransitions(cur, next)
}

// checkTransitions verifies that the phase moved only through recorded,
// allowed transitions and that recorded history was not rewritten.
func checkTransitions(cur, next *api.LabInstanceRequest) error {
	old, now := cur.Status.Transitions, next.Status.Transitions
	if len(now) < len(old) || !slices.EqualFunc(old, now[:len(old)], func(a, b api.Transition) bool {
		return a.From == b.From && a.To == b.To && a.Reason == b.Reason && a.At.Equal(b.At)
	}) {
		return api.Errorf(api.ECONFLICT, "status.transitions is an append-only history")
	}
	phase := cur.Status.Phase
	for _, t := range now[len(old):] {
		if t.From != phase {
			return api.Errorf(api.ECONFLICT, "recorded transition %s -> %s does not start at phase %s", t.From, t.To, phase)
		}
		if err := api.CheckTransition(t.From, t.To); err != nil {
			return err
		}
		phase = t.To
	}
	if phase != next.Status.Phase {
		return api.Errorf(api.ECONFLICT, "phase %s -> %s is not a recorded transition", cur.Status.Phase, next.Status.Phase)
	}
	return nil
}

func timeEqual(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func sameObject(a, b *api.LabInstanceRequest) (bool, error) {
	x, err := json.Marshal(a)
	if err != nil {
		return false, err
	}
	y, err := json.Marshal(b)
	if err != nil {
		return false, err
	}
	return string(x) == string(y), nil
}

// metaSpecEqual reports whether only status differs: such writes are
// statusupdated events, everything else is updated.
func metaSpecEqual(a, b *api.LabInstanceRequest) bool {
	x, y := *a, *b
	x.Status, y.Status = api.Status{}, api.Status{}
	same, _ := sameObject(&x, &y)
	return same
}

// updateRow writes next over row if row's version is still the stored
// one, and returns next as encoded for the row, for its event.
func (tx *Tx) updateRow(ctx context.Context, row *labRow, next *api.LabInstanceRequest, opts WriteOptions) (string, error) {
	pos, err := tx.pos(ctx)
	if err != nil {
		return "", err
	}
	next.Metadata.ResourceVersion = pos
	obj, err := encodeObject(next)
	if err != nil {
		return "", err
	}
	res, err := tx.execSQL(ctx, `UPDATE lab_instances SET resource_version = ?, generation = ?, phase = ?, deleting = ?, object = ?
		WHERE uid = ? AND resource_version = ?`, pos, next.Metadata.Generation, string(next.Status.Phase),
		next.Metadata.DeletionTimestamp != nil, obj, row.UID, row.ResourceVersion)
	if err != nil {
		return "", fmt.Errorf("update lab: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return "", fmt.Errorf("update lab: %w", err)
	} else if n == 0 {
		return "", tx.lostRace(ctx, row)
	}
	return obj, tx.checkFence(ctx, opts.Fence)
}

func (tx *Tx) deleteRow(ctx context.Context, row *labRow, last *api.LabInstanceRequest, opts WriteOptions) error {
	pos, err := tx.pos(ctx)
	if err != nil {
		return err
	}
	res := tx.g.WithContext(ctx).Where("uid = ? AND resource_version = ?", row.UID, row.ResourceVersion).Delete(&labRow{})
	if res.Error != nil {
		return fmt.Errorf("delete lab: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return tx.lostRace(ctx, row)
	}
	if err := tx.checkFence(ctx, opts.Fence); err != nil {
		return err
	}
	if !tx.db.postgres {
		// Foreign keys cascade on PostgreSQL; SQLite's need the pragma on
		// every connection, so do not rely on it.
		if err := tx.g.WithContext(ctx).Exec("DELETE FROM lab_labels WHERE uid = ?", row.UID).Error; err != nil {
			return fmt.Errorf("delete labels: %w", err)
		}
		if err := tx.g.WithContext(ctx).Exec("DELETE FROM lab_access WHERE uid = ?", row.UID).Error; err != nil {
			return fmt.Errorf("delete access token: %w", err)
		}
	}
	last.Metadata.ResourceVersion = pos
	return tx.insertEvent(ctx, last, api.EventDeleted, "")
}

// lostRace explains a conditional write that matched no row: someone else
// changed or deleted the lab since it was read.
func (tx *Tx) lostRace(ctx context.Context, row *labRow) error {
	key := api.Key{Namespace: row.Namespace, Name: row.Name}
	now, err := tx.getRow(ctx, key)
	if err != nil {
		return err
	}
	tx.db.conflict()
	return staleError(key, row.ResourceVersion, now.ResourceVersion)
}

// DeleteLab starts or completes a deletion: with finalizers it only sets
// deletion_timestamp (once), without it removes the row and writes the
// deleted event.
func (tx *Tx) DeleteLab(ctx context.Context, key api.Key, opts WriteOptions) (*api.LabInstanceRequest, bool, error) {
	row, err := tx.getRow(ctx, key)
	if err != nil {
		return nil, false, err
	}
	if opts.ExpectedVersion != 0 && opts.ExpectedVersion != row.ResourceVersion {
		tx.db.conflict()
		return nil, false, staleError(key, opts.ExpectedVersion, row.ResourceVersion)
	}
	cur, err := row.decode()
	if err != nil {
		return nil, false, err
	}
	if cur.Metadata.DeletionTimestamp != nil {
		return cur, false, nil
	}
	next := cur.DeepCopy()
	now := tx.db.now().UTC().Truncate(time.Microsecond)
	next.Metadata.DeletionTimestamp = &now
	if len(next.Metadata.Finalizers) == 0 {
		return next, true, tx.deleteRow(ctx, row, next, opts)
	}
	obj, err := tx.updateRow(ctx, row, next, opts)
	if err != nil {
		return nil, false, err
	}
	if err := tx.insertEventObject(ctx, next, obj, api.EventUpdated, "deletion requested"); err != nil {
		return nil, false, err
	}
	return next, false, nil
}

// writeLabels replaces l's label rows, which carry its namespace and name
// for label selectors (listQuery), if its labels differ from old.
func (tx *Tx) writeLabels(ctx context.Context, l *api.LabInstanceRequest, old api.StringMap) error {
	labels, uid := l.Metadata.Labels, l.Metadata.UID
	if maps.Equal(old, labels) {
		return nil
	}
	if old != nil {
		if _, err := tx.execSQL(ctx, "DELETE FROM lab_labels WHERE uid = ?", uid); err != nil {
			return fmt.Errorf("write labels: %w", err)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if _, err := tx.execSQL(ctx, "INSERT INTO lab_labels (uid, key, value, namespace, name) VALUES (?, ?, ?, ?, ?)",
			uid, k, labels[k], l.Metadata.Namespace, l.Metadata.Name); err != nil {
			return fmt.Errorf("write labels: %w", err)
		}
	}
	return nil
}

// CountDeleting counts labs whose deletion waits for finalizers.
func (tx *Tx) CountDeleting(ctx context.Context) (int64, error) {
	var n int64
	if err := tx.g.WithContext(ctx).Model(&labRow{}).Where("deleting").Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count deleting labs: %w", err)
	}
	return n, nil
}

// CountByPhase counts labs per phase (an index-only scan).
func (tx *Tx) CountByPhase(ctx context.Context) (map[api.Phase]int64, error) {
	var rows []struct {
		Phase string
		N     int64
	}
	if err := tx.g.WithContext(ctx).Raw("SELECT phase, COUNT(*) AS n FROM lab_instances GROUP BY phase").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("count labs: %w", err)
	}
	out := map[api.Phase]int64{}
	for _, p := range api.Phases {
		out[p] = 0
	}
	for _, r := range rows {
		out[api.Phase(r.Phase)] = r.N
	}
	return out, nil
}

// readOnly is the option for list transactions: one snapshot for the
// page and its resource_version.
var readOnly = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
