package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// apiClient is a small client of labd's API for the scenarios.
type apiClient struct {
	base string
	hc   *http.Client
}

func newAPIClient(base string, conns int) *apiClient {
	tr := &http.Transport{MaxIdleConnsPerHost: conns}
	return &apiClient{base: base, hc: &http.Client{Transport: tr, Timeout: time.Minute}}
}

type labList struct {
	Items []struct {
		Metadata struct{ Name string }
		Status   struct {
			Phase        string
			ErrorMessage string `json:"error_message"`
		}
	}
	Metadata struct{ Continue string }
}

// list returns every lab matching query (all pages).
func (a *apiClient) list(ctx context.Context, query url.Values) (*labList, error) {
	all := &labList{}
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set("limit", "1000")
	for {
		var page labList
		if err := a.get(ctx, "/api/lab-instances/?"+q.Encode(), &page); err != nil {
			return nil, err
		}
		all.Items = append(all.Items, page.Items...)
		if page.Metadata.Continue == "" {
			return all, nil
		}
		q.Set("continue", page.Metadata.Continue)
	}
}

func (a *apiClient) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", a.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %d", path, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// metric is the value of an unlabelled gauge or counter in labd's
// Prometheus exposition (parsed by expfmt, Prometheus's own parser), or -1
// when it cannot be read.
func (a *apiClient) metric(ctx context.Context, name string) float64 {
	req, err := http.NewRequestWithContext(ctx, "GET", a.base+"/api/status/metrics", nil)
	if err != nil {
		return -1
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil || families[name] == nil || len(families[name].GetMetric()) == 0 {
		return -1
	}
	m := families[name].GetMetric()[0]
	if g := m.GetGauge(); g != nil {
		return g.GetValue()
	}
	return m.GetCounter().GetValue()
}

func (a *apiClient) delete(ctx context.Context, name string) error {
	req, err := http.NewRequestWithContext(ctx, "DELETE", a.base+"/api/lab-instances/"+name, nil)
	if err != nil {
		return err
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode != 404 {
		return fmt.Errorf("DELETE %s: %d", name, resp.StatusCode)
	}
	return nil
}

// createMany posts n labs named prefix-i at once.
func (a *apiClient) createMany(ctx context.Context, prefix string, n int, image string) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := post(ctx, a.hc, a.base+"/api/lab-instances/", createBody(fmt.Sprintf("%s-%d", prefix, i), image)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// waitPhase polls until every lab matching query is in phase (and there
// are want of them), failing early if one FAILED.
func (a *apiClient) waitPhase(ctx context.Context, query url.Values, want int, phase string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		l, err := a.list(ctx, query)
		if err != nil {
			return err
		}
		n := 0
		counts := map[string]int{}
		for _, it := range l.Items {
			counts[it.Status.Phase]++
			if it.Status.Phase == phase {
				n++
			}
			if it.Status.Phase == "FAILED" && phase != "FAILED" {
				return fmt.Errorf("lab %s FAILED: %s", it.Metadata.Name, it.Status.ErrorMessage)
			}
		}
		if n == want && len(l.Items) == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %v, want %d %s", timeout, counts, want, phase)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitGone polls until no lab matches query.
func (a *apiClient) waitGone(ctx context.Context, query url.Values, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		l, err := a.list(ctx, query)
		if err != nil {
			return err
		}
		if len(l.Items) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d labs still there after %s", len(l.Items), timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// drain drains and closes a response body.
func drain(resp *http.Response) (int64, error) {
	defer resp.Body.Close()
	return io.Copy(io.Discard, resp.Body)
}
