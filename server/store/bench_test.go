package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/store/storetest"
)

// BenchmarkCreate measures create throughput (row, labels, outbox event in
// one transaction) with parallel writers.
func BenchmarkCreate(b *testing.B) {
	for _, kind := range []string{servertest.Postgres, servertest.SQLite} {
		b.Run(kind, func(b *testing.B) {
			db := servertest.OpenStore(b, kind)
			var n atomic.Int64
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := db.CreateLab(context.Background(), newLab(fmt.Sprintf("c-%d", n.Add(1)))); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkListFiltered lists one student's labs among 10,000 (an index
// lookup, see TestListUsesIndexes).
func BenchmarkListFiltered(b *testing.B) {
	db := servertest.OpenStore(b, servertest.Postgres)
	ctx := context.Background()
	err := db.InTx(ctx, func(tx *store.Tx) error {
		return storetest.Exec(ctx, tx, `INSERT INTO lab_instances (uid, namespace, name, resource_version, generation, phase, student_email, created_at, object)
			SELECT 'u' || i, 'default', 'lab-' || i, i, 1, 'RUNNING', 's' || (i % 2000) || '@university.edu', now(),
				'{"spec":{"lab_template":"busybox","student_email":"s@university.edu","duration_minutes":60},"status":{"phase":"RUNNING"}}'::jsonb
			FROM generate_series(1, 10000) AS i`)
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		list, err := db.ListLabs(ctx, store.ListOptions{StudentEmail: "s42@university.edu", Phase: api.PhaseRunning})
		if err != nil || len(list.Items) != 5 {
			b.Fatalf("%d items, %v", len(list.Items), err)
		}
	}
}
