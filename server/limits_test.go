package server_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/signgate/signgate/server"
	"github.com/signgate/signgate/server/ratelimit"
	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/gcs"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// limitedHarness is newHarness with an in-process budget of limit per
// principal (HMAC items cost 1, RSA items 5), a GCS connector for bob's
// team nlp, and metrics in the returned registry.
func limitedHarness(t *testing.T, limit ratelimit.Limit, maxConcurrent int) (*harness, *fakeClock, *prometheus.Registry) {
	t.Helper()
	clk := &fakeClock{now: testNow}
	mem, err := ratelimit.NewMemory(limit, 100, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h := newHarness(t, func(o *options) {
		o.signers["nlp-gcs"] = testGCSSigner(t)
		o.serverOpts = append(o.serverOpts, server.WithMetrics(reg), server.WithRateLimits(server.RateLimits{
			Limiter: mem, Limit: limit, HMACCost: 1, RSACost: 5, MaxConcurrent: maxConcurrent,
		}))
	})
	return h, clk, reg
}

var (
	gcsSAOnce sync.Once
	gcsSA     []byte
)

func testGCSSigner(t *testing.T) signer.Signer {
	t.Helper()
	gcsSAOnce.Do(func() { gcsSA, _ = gcs.GenerateServiceAccountJSON("limits@signgate-test.iam.gserviceaccount.com") })
	sg, err := gcs.New(gcs.Config{Bucket: "acme-nlp", ServiceAccountJSON: gcsSA})
	if err != nil {
		t.Fatal(err)
	}
	return sg
}

func TestRateLimitPerPrincipal(t *testing.T) {
	const (
		readVision = `{"team":"vision","operation":"read","object":"a"}`
		readNLP    = `{"team":"nlp","operation":"read","object":"a"}`
	)
	batch := func(item string, n int) string {
		return `{"items":[` + strings.TrimSuffix(strings.Repeat(item+",", n), ",") + `]}`
	}
	for _, tc := range []struct {
		name       string
		givenKey   string
		givenPath  string
		givenBody  string
		givenAfter func(h *harness, t *testing.T) // what was spent before
		wantStatus int
		wantRemain string // the RateLimit field's r=
	}{
		{"spends one unit per HMAC item", aliceKey, "/v1/sign", readVision, nil, 200, "r=9;"},
		{"spends the RSA cost for a GCS item", bobKey, "/v1/sign", readNLP, nil, 200, "r=5;"},
		{"counts a batch's items", aliceKey, "/v1/sign/batch", batch(readVision, 4), nil, 200, "r=6;"},
		{"refuses a batch that costs more than the burst", aliceKey, "/v1/sign/batch", batch(readVision, 11), nil, 429, ""},
		{"refuses a request over the budget", aliceKey, "/v1/sign", readVision, func(h *harness, t *testing.T) {
			if r := h.do(t, "POST", "/v1/sign/batch", aliceKey, batch(readVision, 10)); r.status != 200 {
				t.Fatalf("batch: %d %s", r.status, r.raw)
			}
		}, 429, "r=0;"},
		{"keeps principals apart", bobKey, "/v1/decide", readNLP, func(h *harness, t *testing.T) {
			h.do(t, "POST", "/v1/sign/batch", aliceKey, batch(readVision, 10))
		}, 200, "r=9;"},
		{"counts an upload's parts", aliceKey, "/v1/uploads", `{"team":"web","object":"a","size":26214400,"part_size":5242880}`, nil, 200, "r=5;"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _, reg := limitedHarness(t, ratelimit.Limit{Rate: 1, Burst: 10}, 4)
			if tc.givenAfter != nil {
				tc.givenAfter(h, t)
			}
			r := h.do(t, "POST", tc.givenPath, tc.givenKey, tc.givenBody)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tc.wantStatus, r.raw)
			}
			if got := r.header.Get("RateLimit-Policy"); got != `"principal";q=10;w=10` {
				t.Errorf("RateLimit-Policy %q", got)
			}
			if tc.wantRemain != "" && !strings.Contains(r.header.Get("RateLimit"), tc.wantRemain) {
				t.Errorf("RateLimit %q, want %s", r.header.Get("RateLimit"), tc.wantRemain)
			}
			if tc.wantStatus != 429 {
				return
			}
			if r.body["code"] != "rate_limited" || r.header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("a 429 that is not a rate_limited problem: %s", r.raw)
			}
			if n := testutil.ToFloat64(mustCounter(t, reg, "signgate_rate_limited_total")); n != 1 {
				t.Errorf("signgate_rate_limited_total = %v, want 1", n)
			}
		})
	}
}

func TestRateLimitRefillsAndSaysWhen(t *testing.T) {
	h, clk, _ := limitedHarness(t, ratelimit.Limit{Rate: 2, Burst: 4}, 4)
	read := `{"team":"vision","operation":"read","object":"a"}`
	for range 4 {
		if r := h.do(t, "POST", "/v1/sign", aliceKey, read); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
	}
	r := h.do(t, "POST", "/v1/sign", aliceKey, read)
	if r.status != 429 || r.header.Get("Retry-After") != "1" || r.header.Get("RateLimit") != `"principal";r=0;t=1` {
		t.Fatalf("over the budget: status %d, Retry-After %q, RateLimit %q", r.status, r.header.Get("Retry-After"), r.header.Get("RateLimit"))
	}
	if len(h.records.recs) != 4 {
		t.Errorf("%d records, want 4: a request refused before the policy saw it is no decision", len(h.records.recs))
	}
	clk.Advance(time.Second) // two units back
	for want, status := range []int{200, 200, 429} {
		if r := h.do(t, "POST", "/v1/sign", aliceKey, read); r.status != status {
			t.Fatalf("call %d after a second: status %d, want %d", want, r.status, status)
		}
	}
}

func TestConcurrentRequestsPerPrincipal(t *testing.T) {
	// A client that has gone still holds its slot while the handler runs;
	// here the slots are held by requests blocked in the auditor.
	block := make(chan struct{})
	entered := make(chan struct{}, 8)
	clk := &fakeClock{now: testNow}
	mem, _ := ratelimit.NewMemory(ratelimit.Limit{Rate: 100, Burst: 100}, 10, clk.Now)
	h := newHarness(t, func(o *options) {
		o.serverOpts = append(o.serverOpts, server.WithAuditor(blockingAuditor{entered, block}),
			server.WithRateLimits(server.RateLimits{Limiter: mem, Limit: ratelimit.Limit{Rate: 100, Burst: 100}, MaxConcurrent: 2}))
	})
	read := `{"team":"vision","operation":"read","object":"a"}`
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { h.do(t, "POST", "/v1/sign", aliceKey, read) })
	}
	<-entered
	<-entered
	r := h.do(t, "POST", "/v1/sign", aliceKey, read)
	if r.status != 429 || r.body["code"] != "rate_limited" || r.header.Get("Retry-After") == "" {
		t.Errorf("a third request in flight: status %d %s", r.status, r.raw)
	}
	close(block)
	wg.Wait()
	if r := h.do(t, "POST", "/v1/sign", aliceKey, read); r.status != 200 {
		t.Errorf("after the others finished: status %d", r.status)
	}
}

type blockingAuditor struct {
	entered chan<- struct{}
	block   <-chan struct{}
}

func (a blockingAuditor) Record(context.Context, *server.Record) error {
	a.entered <- struct{}{}
	<-a.block
	return nil
}

func mustCounter(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name})
	c.Add(sum)
	return c
}

func TestBatchItemsOverTheBudgetGet429(t *testing.T) {
	h, _, _ := limitedHarness(t, ratelimit.Limit{Rate: 1, Burst: 10}, 4)
	item := `{"team":"nlp","operation":"read","object":"a"}`
	// 3 up front, then 4 more for each RSA item: the second finds 3 left.
	r := h.do(t, "POST", "/v1/sign/batch", bobKey, `{"items":[`+item+`,`+item+`,`+item+`]}`)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	var ok, limited int
	for _, res := range r.body["results"].([]any) {
		switch res.(map[string]any)["status"] {
		case float64(200):
			ok++
		case float64(429):
			limited++
		}
	}
	if ok != 1 || limited != 2 {
		t.Errorf("%d items signed and %d limited, want 1 and 2", ok, limited)
	}
	statuses := map[int]int{}
	for _, rec := range h.records.recs {
		statuses[rec.Status]++
	}
	if statuses[200] != 1 || statuses[429] != 2 {
		t.Errorf("records by status %v, want 1 of 200 and 2 of 429", statuses)
	}
}
