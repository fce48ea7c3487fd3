package store

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// A lab's gateway access token lives in lab_access, one row per lab made
// with the lab in the same transaction and removed with it (ON DELETE
// CASCADE). It is a secret: it never enters the lab's JSON, so never the
// outbox, watches, events or CloudEvents. Rotating it writes an
// access.rotated event without it.

// newAccessToken is 26 base32 characters of crypto/rand: 130 bits.
func newAccessToken() string { return rand.Text() }

// insertAccess gives the lab with uid its first token.
func (tx *Tx) insertAccess(ctx context.Context, uid string) error {
	if err := tx.g.WithContext(ctx).Exec("INSERT INTO lab_access (uid, token) VALUES (?, ?)", uid, newAccessToken()).Error; err != nil {
		return fmt.Errorf("insert access token: %w", err)
	}
	return nil
}

// accessToken reads the token of the lab with uid; "" when it has none.
func (tx *Tx) accessToken(ctx context.Context, uid string) (string, error) {
	var tokens []string
	if err := tx.g.WithContext(ctx).Raw("SELECT token FROM lab_access WHERE uid = ?", uid).Scan(&tokens).Error; err != nil {
		return "", fmt.Errorf("read access token: %w", err)
	}
	if len(tokens) == 0 {
		return "", nil
	}
	return tokens[0], nil
}

// LabAccess returns a lab and its access token, read together; a lab with
// no token (none is made only if lab_access was emptied by hand) gets one.
func (db *DB) LabAccess(ctx context.Context, key api.Key) (*api.LabInstanceRequest, string, error) {
	var lab *api.LabInstanceRequest
	var token string
	err := db.InTx(ctx, func(tx *Tx) error {
		var err error
		if lab, err = tx.GetLab(ctx, key); err != nil {
			return err
		}
		if token, err = tx.accessToken(ctx, lab.Metadata.UID); err != nil || token != "" {
			return err
		}
		if err := tx.insertAccess(ctx, lab.Metadata.UID); err != nil {
			return err
		}
		token, err = tx.accessToken(ctx, lab.Metadata.UID)
		return err
	})
	return lab, token, err
}

// RotateAccess replaces the lab's access token and records an
// access.rotated event (without the token); the old token stops working
// at once on this replica and, on the others, when their gateway's cache
// of the lab expires.
func (db *DB) RotateAccess(ctx context.Context, key api.Key) (*api.LabInstanceRequest, string, error) {
	var lab *api.LabInstanceRequest
	token := newAccessToken()
	err := db.InTx(ctx, func(tx *Tx) error {
		var err error
		if lab, err = tx.GetLab(ctx, key); err != nil {
			return err
		}
		g := tx.g.WithContext(ctx)
		if err := g.Exec("DELETE FROM lab_access WHERE uid = ?", lab.Metadata.UID).Error; err != nil {
			return fmt.Errorf("rotate access token: %w", err)
		}
		if err := g.Exec("INSERT INTO lab_access (uid, token) VALUES (?, ?)", lab.Metadata.UID, token).Error; err != nil {
			return fmt.Errorf("rotate access token: %w", err)
		}
		return tx.insertEvent(ctx, lab, api.EventAccessRotated, "access token rotated")
	})
	return lab, token, err
}

// Activity is when a lab was last used through a gateway.
type Activity struct {
	Key api.Key
	UID string // the lab it was; a lab made again under the name is not touched
	At  time.Time
}

// RecordActivity writes each lab's status.last_activity, later only, in
// one transaction for the whole batch: gateways call it every few seconds
// with what they saw since, never once per request. A lab that is gone,
// is another lab now, or no longer runs is skipped. A lab whose write
// races another writer's is retried on its own. It returns how many labs
// it updated.
func (db *DB) RecordActivity(ctx context.Context, seen []Activity) (int, error) {
	seen = slices.Clone(seen)
	// One order for every replica, so that two batches cannot deadlock.
	slices.SortFunc(seen, func(a, b Activity) int {
		return cmp.Or(cmp.Compare(a.Key.Namespace, b.Key.Namespace), cmp.Compare(a.Key.Name, b.Key.Name))
	})
	var updated int
	var raced []Activity
	err := db.InTx(ctx, func(tx *Tx) error {
		updated, raced = 0, nil
		for _, a := range seen {
			changed, err := touch(ctx, tx, a)
			switch {
			case isStale(err):
				raced = append(raced, a)
			case err != nil:
				return err
			case changed:
				updated++
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, a := range raced {
		var changed bool
		_, err := db.UpdateLabWithRetry(ctx, a.Key, WriteOptions{}, func(x *api.LabInstanceRequest) error {
			changed = setActivity(x, a)
			return nil
		})
		if err != nil && !api.IsNotFound(err) {
			return updated, err
		}
		if changed && err == nil {
			updated++
		}
	}
	return updated, nil
}

// touch writes one lab's activity in tx.
func touch(ctx context.Context, tx *Tx, a Activity) (bool, error) {
	var changed bool
	_, err := tx.UpdateLab(ctx, a.Key, WriteOptions{}, func(x *api.LabInstanceRequest) error {
		changed = setActivity(x, a)
		return nil
	})
	if api.IsNotFound(err) {
		return false, nil
	}
	return changed && err == nil, err
}

// setActivity moves x's last_activity forward to a.At, to the second, if x
// is still that lab and running.
func setActivity(x *api.LabInstanceRequest, a Activity) bool {
	at := a.At.UTC().Truncate(time.Second)
	if x.Metadata.UID != a.UID || x.Status.Phase != api.PhaseRunning {
		return false
	}
	if la := x.Status.LastActivity; la != nil && !at.After(*la) {
		return false
	}
	x.Status.LastActivity = &at
	return true
}

// GatewayLab returns what the gateway needs of a lab in one read: the lab
// and its access token ("" when it has none: nobody gets in). Unlike
// LabAccess it never writes.
func (db *DB) GatewayLab(ctx context.Context, key api.Key) (*api.LabInstanceRequest, string, error) {
	var lab *api.LabInstanceRequest
	var token string
	err := db.inTx(ctx, readOnly, func(tx *Tx) error {
		var err error
		if lab, err = tx.GetLab(ctx, key); err != nil {
			return err
		}
		token, err = tx.accessToken(ctx, lab.Metadata.UID)
		return err
	})
	return lab, token, err
}
