package store_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/store/storetest"
)

func TestSQLiteSingleProcess(t *testing.T) {
	t.Parallel()
	url := servertest.SQLiteURL(t)
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	_, err = store.Open(ctx, store.Config{URL: url})
	if err == nil || !strings.Contains(err.Error(), "in use by another labd") {
		t.Fatalf("second open of the same SQLite file: %v, want in-use error", err)
	}
	mustCreate(t, db, newLab("kept"))
	db.Close()
	// Reopening after close works and keeps the data (migrations idempotent).
	db2, err := store.Open(ctx, store.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if _, err := db2.GetLab(ctx, api.Key{Namespace: "default", Name: "kept"}); err != nil {
		t.Fatalf("data lost across reopen: %v", err)
	}
}

func TestOpenRejectsUnknownScheme(t *testing.T) {
	t.Parallel()
	_, err := store.Open(context.Background(), store.Config{URL: "mysql://u:secret@h/db"})
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("open mysql url: %v (want an error that hides the password)", err)
	}
}

// TestConcurrentMigrations starts several replicas on one fresh database at
// once: all must come up, the schema applied once.
func TestConcurrentMigrations(t *testing.T) {
	t.Parallel()
	url := servertest.PostgresURL(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	dbs := make([]*store.DB, 4)
	errs := make([]error, 4)
	for i := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dbs[i], errs[i] = store.Open(ctx, store.Config{URL: url})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		defer dbs[i].Close()
	}
	var n int
	if err := dbs[0].InTx(ctx, func(tx *store.Tx) error {
		return storetest.Raw(ctx, tx, &n, "SELECT COUNT(*) FROM schema_migrations")
	}); err != nil {
		t.Fatal(err)
	}
	ms, _ := store.Migrations("postgres")
	if n != len(ms) {
		t.Fatalf("schema_migrations has %d rows, want %d", n, len(ms))
	}
	id0, err := dbs[0].InstallationID(ctx)
	if err != nil || id0 == "" {
		t.Fatalf("installation id %q: %v", id0, err)
	}
	if id3, _ := dbs[3].InstallationID(ctx); id3 != id0 {
		t.Fatalf("replicas see different installation ids %q and %q", id0, id3)
	}
	mustCreate(t, dbs[1], newLab("one"))
	if _, err := dbs[2].GetLab(ctx, api.Key{Namespace: "default", Name: "one"}); err != nil {
		t.Fatal(err)
	}
}

// TestPositionBaseSurvivesRestore simulates a restore into a cluster whose
// transaction ids are far behind the stored positions: after reopening,
// new writes must still get higher positions.
func TestPositionBaseSurvivesRestore(t *testing.T) {
	t.Parallel()
	url := servertest.PostgresURL(t)
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	l := mustCreate(t, db, newLab("old"))
	const future = int64(1) << 40
	err = db.InTx(ctx, func(tx *store.Tx) error {
		return storetest.Exec(ctx, tx, "UPDATE outbox SET position = position + ?", future)
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = store.Open(ctx, store.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := mustCreate(t, db, newLab("new"))
	if n.Metadata.ResourceVersion <= l.Metadata.ResourceVersion+future {
		t.Fatalf("position after restore %d is not above stored %d", n.Metadata.ResourceVersion, l.Metadata.ResourceVersion+future)
	}
}

// TestListUsesIndexes fills 100,000 labs (bulk SQL, a second or two) and
// checks that every list filter is answered from an index in page order:
// never a scan of lab_instances, and for label selectors the walk of
// lab_labels_kv in (namespace, name) order, without a sort of every lab
// that has the label.
func TestListUsesIndexes(t *testing.T) {
	t.Parallel()
	db := servertest.OpenStore(t, servertest.Postgres)
	ctx := context.Background()
	const n, chunk = 100000, 10000
	// In chunks: a long transaction anywhere in the cluster holds back
	// every outbox reader's horizon, those of parallel tests too.
	for from := 1; from <= n; from += chunk {
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if err := storetest.Exec(ctx, tx, `INSERT INTO lab_instances (uid, namespace, name, resource_version, generation, phase, student_email, created_at, object)
				SELECT 'u' || i, 'ns' || (i % 50), 'lab-' || i, i, 1,
					(ARRAY['PENDING','RUNNING','COMPLETED','FAILED'])[1 + i % 4],
					's' || (i % 2000) || '@university.edu', now(), '{}'::jsonb
				FROM generate_series(?::int, ?::int) AS i`, from, from+chunk-1); err != nil {
				return err
			}
			// course: 500 values of 200 labs each; term: one value, every lab.
			return storetest.Exec(ctx, tx, `INSERT INTO lab_labels (uid, key, value, namespace, name)
				SELECT 'u' || i, 'course', 'c' || (i % 500), 'ns' || (i % 50), 'lab-' || i FROM generate_series(?::int, ?::int) AS i
				UNION ALL
				SELECT 'u' || i, 'term', 'fall', 'ns' || (i % 50), 'lab-' || i FROM generate_series(?::int, ?::int) AS i`, from, from+chunk-1, from, from+chunk-1)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	labels := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	// Label selectors keep their shape even before statistics catch up
	// with a bulk load (autovacuum analyzes later): the planner must not
	// turn the probe of a further label into a join driven from it.
	for _, sel := range []map[string]string{labels("course", "c7", "term", "fall"), labels("term", "fall", "course", "c7")} {
		plan, err := store.ExplainList(ctx, db, store.ListOptions{LabelSelector: sel})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, "Index Scan using lab_labels_kv") || strings.Contains(plan, "Sort") || strings.Contains(plan, "Seq Scan") {
			t.Errorf("label selector %v before ANALYZE not driven from lab_labels_kv in page order:\n%s", sel, plan)
		}
	}
	if err := db.InTx(ctx, func(tx *store.Tx) error { return storetest.Exec(ctx, tx, "ANALYZE lab_instances, lab_labels") }); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []store.ListOptions{
		{Namespace: "ns7"},
		{Phase: api.PhaseRunning},
		{StudentEmail: "s42@university.edu"},
		{LabelSelector: labels("course", "c7")},
		{LabelSelector: labels("term", "fall")},
		{LabelSelector: labels("course", "c7", "term", "fall")},
		{LabelSelector: labels("course", "c7"), Namespace: "ns7"},
		{LabelSelector: labels("course", "c7"), Continue: store.ContinueToken("ns3", "lab-1")},
		{Continue: store.ContinueToken("ns3", "lab-1")},
		{Namespace: "ns7", Phase: api.PhaseFailed},
		{},
	} {
		plan, err := store.ExplainList(ctx, db, opts)
		if err != nil {
			t.Fatal(err)
		}
		if os.Getenv("LAB_TEST_PRINT_PLANS") != "" {
			t.Logf("%+v:\n%s", opts, plan)
		}
		if strings.Contains(plan, "Seq Scan") {
			t.Errorf("list %+v scans a table:\n%s", opts, plan)
		}
		if opts.Continue != "" && !strings.Contains(plan, "ROW(") {
			t.Errorf("list %+v does not start its index walk at the continue token:\n%s", opts, plan)
		}
		if len(opts.LabelSelector) > 0 && (!strings.Contains(plan, "lab_labels_kv") || strings.Contains(plan, "Sort")) {
			t.Errorf("label selector %+v not driven from lab_labels_kv in page order:\n%s", opts, plan)
		}
	}
	list, err := db.ListLabs(ctx, store.ListOptions{StudentEmail: "s42@university.edu"})
	if err != nil || len(list.Items) != n/2000 {
		t.Fatalf("email filter over %d labs: %d items (%v), want %d", n, len(list.Items), err, n/2000)
	}
	// A label selector pages through every lab that has the label, in
	// order, each once.
	var names []string
	opts := store.ListOptions{LabelSelector: labels("course", "c7", "term", "fall"), Limit: 64}
	for {
		page, err := db.ListLabs(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range page.Items {
			names = append(names, l.Metadata.Namespace+"/"+l.Metadata.Name)
		}
		if opts.Continue = page.Metadata.Continue; opts.Continue == "" {
			break
		}
	}
	if len(names) != n/500 || !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Fatalf("course=c7,term=fall: %d labs (want %d), sorted %v", len(names), n/500, slices.IsSorted(names))
	}
}
