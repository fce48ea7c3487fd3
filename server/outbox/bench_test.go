package outbox_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/server/outbox"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
)

// BenchmarkEventToWatcher measures how long a committed change takes to
// reach a running watcher's handler (LISTEN/NOTIFY wake-up on PostgreSQL,
// in-process on SQLite); the poll interval is an hour, so only wake-ups
// count. Reported as ns/op and as p50/p99 latency.
func BenchmarkEventToWatcher(b *testing.B) {
	for _, kind := range []string{servertest.Postgres, servertest.SQLite} {
		b.Run(kind, func(b *testing.B) {
			db := servertest.OpenStore(b, kind)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			seen := make(chan time.Time, 1)
			w := outbox.NewWatcher(db, outbox.Config{Name: "bench", PollInterval: time.Hour, Start: outbox.StartAtEnd},
				func(ctx context.Context, tx *store.Tx, evs []store.Event) error {
					seen <- time.Now()
					return nil
				})
			if _, err := w.Step(ctx); err != nil {
				b.Fatal(err)
			}
			go w.Run(ctx)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				if _, err := db.CreateLab(ctx, newLab(fmt.Sprintf("b-%d", i))); err != nil {
					b.Fatal(err)
				}
				select {
				case at := <-seen:
					lat = append(lat, at.Sub(start))
				case <-time.After(10 * time.Second):
					b.Fatal("event not delivered within 10s")
				}
			}
			b.StopTimer()
			reportPercentiles(b, lat)
		})
	}
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sorted := slices.Sorted(slices.Values(lat))
	b.ReportMetric(float64(sorted[len(sorted)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(sorted[len(sorted)*99/100].Microseconds()), "p99-µs")
}
