package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/store/storetest"
)

// TestStudentEmailCaseInsensitive: a student's labs are found however the
// address is capitalised, in the lab or in the query, and still from the
// student_email index (addresses are kept lower-cased in it), never by
// scanning lab_instances.
func TestStudentEmailCaseInsensitive(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.Postgres)
	ctx := context.Background()
	for name, email := range map[string]string{"ada-upper": "Ada.Lovelace@University.EDU", "ada-lower": "ada.lovelace@university.edu"} {
		l := newLab(name)
		l.Spec.StudentEmail = email
		mustCreate(t, db, l)
	}
	err := db.InTx(ctx, func(tx *store.Tx) error {
		if err := storetest.Exec(ctx, tx, `INSERT INTO lab_instances (uid, namespace, name, resource_version, generation, phase, student_email, created_at, object)
			SELECT 'u' || i, 'ns' || (i % 50), 'lab-' || i, i, 1, 'PENDING', 's' || (i % 2000) || '@university.edu', now(), '{}'::jsonb
			FROM generate_series(1, 10000) AS i`); err != nil {
			return err
		}
		return storetest.Exec(ctx, tx, "ANALYZE")
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"ADA.LOVELACE@UNIVERSITY.EDU", "ada.lovelace@university.edu", "Ada.Lovelace@university.Edu"} {
		list, err := db.ListLabs(ctx, store.ListOptions{StudentEmail: q})
		if err != nil || len(list.Items) != 2 {
			t.Fatalf("labs of %s: %d (%v), want both", q, len(list.Items), err)
		}
		plan, err := store.ExplainList(ctx, db, store.ListOptions{StudentEmail: q})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(plan, "Seq Scan on lab_instances") {
			t.Errorf("list by %s scans lab_instances:\n%s", q, plan)
		}
	}
	if got, err := db.GetLab(ctx, api.Key{Namespace: "default", Name: "ada-lower"}); err != nil || got.Spec.StudentEmail != "ada.lovelace@university.edu" {
		t.Fatalf("the address as written is kept: %v %v", got, err)
	}
}
