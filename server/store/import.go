package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// importSQL writes many labs, their labels and their created events under
// one position, from arrays: $1 uids, $2 namespaces, $3 names, $4 phases,
// $5 student e-mails, $6 objects; $7 labels' uids, $8 keys, $9 values,
// $10 namespaces, $11 names; $12 the time, $13 the event type; $14 the
// labs' access tokens.
const importSQL = `WITH p AS (SELECT lab_position() AS pos),
lab AS (INSERT INTO lab_instances (uid, namespace, name, resource_version, generation, phase, student_email, created_at, object)
	SELECT u, ns, n, pos, 1, ph, em, $12, obj::jsonb FROM p, unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS x(u, ns, n, ph, em, obj)),
labels AS (INSERT INTO lab_labels (uid, key, value, namespace, name)
	SELECT * FROM unnest($7::text[], $8::text[], $9::text[], $10::text[], $11::text[])),
event AS (INSERT INTO outbox (position, event_type, uid, namespace, name, resource_version, object, message, created_at)
	SELECT pos, $13, u, ns, n, pos, obj::jsonb, '', $12 FROM p, unnest($1::text[], $2::text[], $3::text[], $6::text[]) AS x(u, ns, n, obj)),
access AS (INSERT INTO lab_access (uid, token) SELECT * FROM unnest($1::text[], $14::text[]))
SELECT pos FROM p`

// ImportLabs stores labs as given, status included, each with its created
// event, in one transaction: a bulk load for benchmarks (labbench fills
// 100,000 labs in seconds) and restores. Unlike CreateLab it trusts its
// input: labs are validated (api.ValidateCreate) but neither defaulted nor
// checked against the phase state machine. A lab without a uid gets one.
// On SQLite each lab is created as by CreateLab (PENDING, status dropped).
func (db *DB) ImportLabs(ctx context.Context, labs []*api.LabInstanceRequest) error {
	now := db.now().UTC().Truncate(time.Microsecond)
	var uids, nss, names, phases, emails, objs, tokens []string
	var luids, keys, values, lnss, lnames []string
	for _, in := range labs {
		l := in.DeepCopy()
		if err := api.ValidateCreate(l); err != nil {
			return fmt.Errorf("import %s: %w", l.Key(), err)
		}
		if l.Metadata.UID == "" {
			l.Metadata.UID = uuid.NewString()
		}
		l.Metadata.Generation = 1
		if l.Metadata.CreationTimestamp == nil {
			l.Metadata.CreationTimestamp = &now
		}
		if l.Status.Phase == "" {
			l.Status.Phase = api.PhasePending
		}
		obj, err := encodeObject(l)
		if err != nil {
			return err
		}
		uids, nss, names = append(uids, l.Metadata.UID), append(nss, l.Metadata.Namespace), append(names, l.Metadata.Name)
		phases, emails, objs = append(phases, string(l.Status.Phase)), append(emails, strings.ToLower(l.Spec.StudentEmail)), append(objs, obj)
		tokens = append(tokens, newAccessToken())
		for _, k := range slices.Sorted(maps.Keys(l.Metadata.Labels)) {
			luids, keys, values = append(luids, l.Metadata.UID), append(keys, k), append(values, l.Metadata.Labels[k])
			lnss, lnames = append(lnss, l.Metadata.Namespace), append(lnames, l.Metadata.Name)
		}
	}
	if !db.postgres {
		return db.InTx(ctx, func(tx *Tx) error {
			for _, l := range labs {
				if _, err := tx.CreateLab(ctx, l); err != nil {
					return err
				}
			}
			return nil
		})
	}
	var pos int64
	err := db.sqlDB.QueryRowContext(ctx, importSQL, uids, nss, names, phases, emails, objs,
		luids, keys, values, lnss, lnames, now, api.EventCreated, tokens).Scan(&pos)
	if err != nil {
		return fmt.Errorf("import labs: %w", db.translate(err))
	}
	db.wake()
	return nil
}
