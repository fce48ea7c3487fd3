package gateway_test

import (
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkGateway measures the gateway against requests made directly to
// the lab's address, in the same run, on the same lab (the test app's
// small page): latency p50/p99 with requests alternating between the two,
// then throughput with parallel clients. The goal is a gateway p99 within
// 1.2 × direct + 1 ms (reported as p99-goal-met). Tails measure the
// machine as much as the gateway: run it on an otherwise idle one.
func BenchmarkGateway(b *testing.B) {
	e := newEnvLogging(b, slog.LevelInfo, nil)
	a := e.running("bench", nil)
	tok := e.token(a.Key())
	direct, via := "http://"+a.Status.Endpoint+"/", e.url(a.Key(), "/")
	get := func(c *http.Client, url string, withCookie bool) {
		req, _ := http.NewRequest("GET", url, nil)
		if withCookie {
			req.Header.Set("Cookie", cookie(tok))
		}
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %d", url, resp.StatusCode)
		}
	}
	client := func() *http.Client {
		return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
	}

	b.Run("latency", func(b *testing.B) {
		c := client()
		get(c, direct, false) // connections up
		get(c, via, true)
		d, g := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			t0 := time.Now()
			get(c, direct, false)
			t1 := time.Now()
			get(c, via, true)
			d, g = append(d, t1.Sub(t0)), append(g, time.Since(t1))
		}
		b.StopTimer()
		dp50, dp99, gp50, gp99 := pct(d, 50), pct(d, 99), pct(g, 50), pct(g, 99)
		b.ReportMetric(ms(dp50), "direct-p50-ms")
		b.ReportMetric(ms(pct(d, 90)), "direct-p90-ms")
		b.ReportMetric(ms(dp99), "direct-p99-ms")
		b.ReportMetric(ms(gp50), "gateway-p50-ms")
		b.ReportMetric(ms(pct(g, 90)), "gateway-p90-ms")
		b.ReportMetric(ms(gp99), "gateway-p99-ms")
		met := 0.0
		if gp99 <= time.Duration(1.2*float64(dp99))+time.Millisecond {
			met = 1
		}
		b.ReportMetric(met, "p99-goal-met")
	})
	for _, target := range []struct {
		name   string
		url    string
		cookie bool
	}{{"direct", direct, false}, {"gateway", via, true}} {
		b.Run("throughput/"+target.name, func(b *testing.B) {
			c := client()
			var n atomic.Int64
			b.SetParallelism(4)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					get(c, target.url, target.cookie)
					n.Add(1)
				}
			})
			b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "req/s")
		})
	}
}

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
