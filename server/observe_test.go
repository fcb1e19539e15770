package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/signgate/signgate/bundles"
	"github.com/signgate/signgate/policies"
	"github.com/signgate/signgate/server"
	"github.com/signgate/signgate/server/audit"
	"github.com/signgate/signgate/server/config"
	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/s3"
	"github.com/signgate/signgate/tests/eventually"
)

// observed is a server with a real audit pipeline, a metrics registry and
// a captured request log.
type observed struct {
	e     *echo.Echo
	reg   *prometheus.Registry
	log   *syncBuffer
	audit *audit.Pipeline // nil without an audit section
}

// newObserved serves the embedded policy with the given audit section
// (nil: records discarded), metrics on the API listener. swap replaces
// some of the example connectors' signers.
func newObserved(t testing.TB, a *config.Audit, swap ...map[string]signer.Signer) *observed {
	t.Helper()
	signers := exampleSigners(t)
	for _, m := range swap {
		maps.Copy(signers, m)
	}
	engine := embeddedEngine(t, signers)
	auth := testKeys(t)
	o := &observed{reg: prometheus.NewRegistry(), log: &syncBuffer{}}
	logger := slog.New(slog.NewJSONHandler(o.log, nil))
	var auditor server.Auditor = server.Discard{}
	if a != nil {
		c := config.Config{Audit: *a}
		c.SetDefaults()
		p, err := audit.New(context.Background(), c.Audit, audit.WithRegisterer(o.reg), audit.WithLogger(logger))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = p.Close(ctx)
		})
		b, err := bundles.LoadFS(policies.FS) // the bundle's mask policy
		if err != nil {
			t.Fatal(err)
		}
		if err := p.UsePolicy(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		auditor, o.audit = p, p
	}
	o.e = server.New(engine, signers, auth, server.WithClock(clock), server.WithAuditor(auditor),
		server.WithLogger(logger), server.WithMetrics(o.reg), server.WithMetricsRoute(o.reg))
	return o
}

func (o *observed) do(t *testing.T, method, path, key, body string, hdr ...string) response {
	t.Helper()
	return (&harness{e: o.e}).do(t, method, path, key, body, hdr...)
}

// scrape reads GET /metrics as Prometheus would.
func (o *observed) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	r := o.do(t, "GET", "/metrics", "", "")
	if r.status != 200 {
		t.Fatalf("GET /metrics: %d %s", r.status, r.raw)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(r.raw))
	if err != nil {
		t.Fatalf("GET /metrics is not the text format: %v", err)
	}
	out := map[string]float64{}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := name
			for _, lp := range m.GetLabel() {
				key += "," + lp.GetName() + "=" + lp.GetValue()
			}
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				out[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// commits is how many group commits the audit pipeline made.
func (o *observed) commits(t testing.TB) float64 {
	t.Helper()
	mfs, err := o.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "signgate_audit_commit_records" {
			return float64(mf.GetMetric()[0].GetHistogram().GetSampleCount())
		}
	}
	return 0
}

const readVision = `{"team":"vision","operation":"read","object":"runs/42/model.pt","expires_in":900}`

func TestStrictAuditFailsClosed(t *testing.T) {
	tests := []struct {
		name  string
		given config.Audit
	}{
		// /dev/full: every write fails with ENOSPC, as on a full disk.
		{"when the file cannot be written", config.Audit{Mode: "strict", Sink: "file", Path: "/dev/full"}},
		{"when the decision-log service is down", config.Audit{Mode: "strict", Sink: "service", Service: config.AuditService{URL: closedURL(t)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newObserved(t, &tt.given)
			for _, req := range []struct{ path, key, body string }{
				{"/v1/sign", aliceKey, readVision},
				{"/v1/sign", bobKey, readVision}, // a denial needs its record too
				{"/v1/decide", aliceKey, readVision},
			} {
				r := o.do(t, "POST", req.path, req.key, req.body)
				if r.status != 503 || r.body["code"] != "audit_unavailable" {
					t.Fatalf("POST %s: %d %s, want 503 audit_unavailable", req.path, r.status, r.raw)
				}
				if _, ok := r.body["url"]; ok || strings.Contains(r.raw, "X-Amz-Signature") || strings.Contains(r.raw, "http://127.0.0.1:7070") {
					t.Fatalf("a 503 audit_unavailable carries a URL: %s", r.raw)
				}
				if r.body["decision_id"] == nil || r.body["request_id"] == nil {
					t.Errorf("problem lacks decision_id or request_id: %s", r.raw)
				}
			}
			if got := o.scrape(t)["signgate_audit_failed_total"]; got != 3 {
				t.Errorf("signgate_audit_failed_total = %v, want 3", got)
			}
		})
	}
}

func TestStrictAuditServesOnceStored(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	o := newObserved(t, &config.Audit{Mode: "strict", Sink: "file", Path: path})
	r := o.do(t, "POST", "/v1/sign", aliceKey, readVision)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	raw := readFile(t, path)
	if !strings.Contains(raw, `"decision_id":"`+r.body["decision_id"].(string)+`"`) {
		t.Fatalf("the URL went out before its record was in the file: %s", raw)
	}
}

func TestBestEffortAuditServesWithTheSinkDown(t *testing.T) {
	o := newObserved(t, &config.Audit{Sink: "service", BufferSize: 2, Service: config.AuditService{URL: closedURL(t)}})
	for range 20 {
		if r := o.do(t, "POST", "/v1/sign", aliceKey, readVision); r.status != 200 {
			t.Fatalf("best_effort with the sink down: %d %s", r.status, r.raw)
		}
	}
	eventually.Check(t, 5*time.Second, "at least 18 of 20 records into a buffer of 2 counted as dropped", func() error {
		m := o.scrape(t)
		if dropped := m["signgate_audit_dropped_total,reason=buffer_full"] + m["signgate_audit_dropped_total,reason=queue_full"]; dropped < 18 {
			return fmt.Errorf("dropped = %v", dropped)
		}
		return nil
	})
	eventually.Check(t, 5*time.Second, "the drops in the log", func() error {
		if log := o.log.String(); !strings.Contains(log, `"msg":"audit records dropped (best_effort)"`) {
			return fmt.Errorf("log:\n%s", log)
		}
		return nil
	})
}

func TestURLCarriesItsDecisionID(t *testing.T) {
	o := newObserved(t, nil)
	for _, team := range []string{"vision", "web"} {
		r := o.do(t, "POST", "/v1/sign", aliceKey, `{"team":"`+team+`","operation":"read","object":"a.txt"}`)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		u, err := url.Parse(r.body["url"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if got := u.Query().Get(signer.DecisionParam); got == "" || got != r.body["decision_id"] {
			t.Errorf("%s URL: %s = %q, want the decision_id %v", team, signer.DecisionParam, got, r.body["decision_id"])
		}
	}
}

func TestMetricsMove(t *testing.T) {
	o := newObserved(t, &config.Audit{Sink: "file", Path: filepath.Join(t.TempDir(), "audit.jsonl")})
	before := o.scrape(t)
	o.do(t, "POST", "/v1/sign", aliceKey, readVision)                                                                    // allow, s3
	o.do(t, "POST", "/v1/sign", aliceKey, `{"team":"web","operation":"delete","object":"a"}`)                            // allow, azure
	o.do(t, "POST", "/v1/sign", bobKey, readVision)                                                                      // deny
	o.do(t, "POST", "/v1/decide", aliceKey, readVision)                                                                  // allow, decide
	o.do(t, "POST", "/v1/sign", aliceKey, `{"team":"web","operation":"write","object":"a","content_type":"text/plain"}`) // 422
	o.do(t, "GET", "/nope", "", "")
	after := o.scrape(t)
	wantDelta := map[string]float64{
		"signgate_decisions_total,endpoint=/v1/sign,operation=read,provider=s3,result=allow":      1,
		"signgate_decisions_total,endpoint=/v1/sign,operation=delete,provider=azure,result=allow": 1,
		"signgate_decisions_total,endpoint=/v1/sign,operation=read,provider=,result=deny":         1,
		"signgate_decisions_total,endpoint=/v1/decide,operation=read,provider=s3,result=allow":    1,
		"signgate_decision_duration_seconds":                                                      5,
		"signgate_sign_duration_seconds,provider=s3":                                              1,
		"signgate_sign_duration_seconds,provider=azure":                                           1, // the 422 is refused before signing
		"signgate_http_requests_total,route=/v1/sign,status=200":                                  2,
		"signgate_http_requests_total,route=/v1/sign,status=403":                                  1,
		"signgate_http_requests_total,route=/v1/sign,status=422":                                  1,
		"signgate_http_requests_total,route=/v1/decide,status=200":                                1,
		"signgate_http_request_duration_seconds,route=/v1/sign":                                   4,
	}
	for k, want := range wantDelta {
		if got := after[k] - before[k]; got != want {
			t.Errorf("%s moved by %v, want %v", k, got, want)
		}
	}
	if after["signgate_http_requests_total,route=unmatched,status=404"] < 1 && after["signgate_http_requests_total,route=/*,status=404"] < 1 {
		t.Errorf("an unmatched route is not counted under one label: %v", after)
	}
	for k := range after {
		if strings.Contains(k, "/nope") {
			t.Errorf("a raw path became a label: %s", k)
		}
	}
	rev := ""
	for k, v := range after {
		if strings.HasPrefix(k, "signgate_policy_revision_info,") && v == 1 {
			rev = k
		}
	}
	if !strings.Contains(rev, "revision=sha256:") || !strings.Contains(rev, "source=embedded") {
		t.Errorf("signgate_policy_revision_info = %q, want the active revision and its source", rev)
	}
	if after["signgate_policy_last_load_timestamp_seconds"] <= 0 {
		t.Error("signgate_policy_last_load_timestamp_seconds is not set")
	}
	if after["signgate_policy_activations_total"] != 1 {
		t.Errorf("signgate_policy_activations_total = %v, want 1", after["signgate_policy_activations_total"])
	}
	// Records are written by the worker: wait for it.
	eventually.Check(t, 5*time.Second, "signgate_audit_records_written_total to count the 5 decisions", func() error {
		if n := o.scrape(t)["signgate_audit_records_written_total,sink=file"] - before["signgate_audit_records_written_total,sink=file"]; n < 5 {
			return fmt.Errorf("moved by %v", n)
		}
		return nil
	})
}

func TestSignerErrorsAreCountedByProvider(t *testing.T) {
	failing, err := s3.New(s3.Config{Bucket: "acme-vision", Region: "us-east-1", Endpoint: "http://127.0.0.1:7070",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{}, errors.New("the credential source is down")
		})})
	if err != nil {
		t.Fatal(err)
	}
	o := newObserved(t, nil, map[string]signer.Signer{"vision-s3": failing})
	r := o.do(t, "POST", "/v1/sign", aliceKey, readVision)
	if r.status != 502 || r.body["code"] != "signer_error" {
		t.Fatalf("%d %s, want 502 signer_error", r.status, r.raw)
	}
	m := o.scrape(t)
	if got := m["signgate_signer_errors_total,provider=s3"]; got != 1 {
		t.Errorf("signgate_signer_errors_total{provider=s3} = %v, want 1", got)
	}
	if got := m["signgate_decisions_total,endpoint=/v1/sign,operation=read,provider=s3,result=allow"]; got != 1 {
		t.Errorf("the allowing decision was not counted as allow: %v", got)
	}
}

func TestRequestLog(t *testing.T) {
	o := newObserved(t, nil)
	tests := []struct {
		name         string
		givenID      string
		givenKey     string
		wantID       string // "" means: a generated one, echoed back
		wantStatus   int
		wantSubject  string
		wantDecision bool
		wantRoute    string
		givenBody    string
		givenPath    string
		givenMethod  string
	}{
		{name: "honours a well-formed X-Request-Id", givenID: "abc-123_x.y:z", givenKey: aliceKey, wantID: "abc-123_x.y:z",
			wantStatus: 200, wantSubject: "alice", wantDecision: true, wantRoute: "/v1/sign", givenBody: readVision, givenPath: "/v1/sign", givenMethod: "POST"},
		{name: "replaces a malformed X-Request-Id", givenID: "bad id\n", givenKey: bobKey,
			wantStatus: 403, wantSubject: "bob", wantDecision: true, wantRoute: "/v1/sign", givenBody: readVision, givenPath: "/v1/sign", givenMethod: "POST"},
		{name: "logs an unauthenticated request without subject or decision", givenKey: "nope",
			wantStatus: 401, wantRoute: "/v1/sign", givenBody: readVision, givenPath: "/v1/sign", givenMethod: "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o.log.Reset()
			var hdr []string
			if tt.givenID != "" {
				hdr = []string{"X-Request-Id", tt.givenID}
			}
			r := o.do(t, tt.givenMethod, tt.givenPath, tt.givenKey, tt.givenBody, hdr...)
			echoed := r.header.Get("X-Request-Id")
			if tt.wantID != "" && echoed != tt.wantID {
				t.Fatalf("X-Request-Id echoed %q, want %q", echoed, tt.wantID)
			}
			if echoed == "" || echoed == tt.givenID && tt.wantID == "" {
				t.Fatalf("X-Request-Id echoed %q, want a fresh id", echoed)
			}
			line := requestLine(t, o.log.String())
			want := map[string]any{"request_id": echoed, "method": tt.givenMethod, "route": tt.wantRoute, "status": float64(tt.wantStatus)}
			for k, v := range want {
				if line[k] != v {
					t.Errorf("%s = %v, want %v in %v", k, line[k], v, line)
				}
			}
			if _, ok := line["latency_ms"].(float64); !ok {
				t.Errorf("latency_ms missing: %v", line)
			}
			if got, _ := line["subject"].(string); got != tt.wantSubject {
				t.Errorf("subject = %q, want %q", got, tt.wantSubject)
			}
			id, _ := line["decision_id"].(string)
			if tt.wantDecision && (id == "" || id != r.body["decision_id"]) {
				t.Errorf("decision_id = %q, want the response's %v", id, r.body["decision_id"])
			}
			if !tt.wantDecision && id != "" {
				t.Errorf("decision_id = %q for a request that never reached the policy", id)
			}
			for _, secret := range []string{aliceKey, bobKey, "X-Amz-Signature", "Bearer"} {
				if strings.Contains(o.log.String(), secret) {
					t.Errorf("the request log holds %q", secret)
				}
			}
		})
	}
}

// requestLine is the one "request" line of a log.
func requestLine(t *testing.T, log string) map[string]any {
	t.Helper()
	var found map[string]any
	for line := range strings.Lines(log) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if m["msg"] == "request" {
			if found != nil {
				t.Fatalf("two request lines in %s", log)
			}
			found = m
		}
	}
	if found == nil {
		t.Fatalf("no request line in %q", log)
	}
	return found
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}

// closedURL is an http URL on which nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "http://" + ln.Addr().String()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestStrictAuditOfABatch(t *testing.T) {
	var items []string
	for i := range 50 {
		items = append(items, fmt.Sprintf(`{"team":"vision","operation":"read","object":"b/%d"}`, i))
	}
	body := `{"items":[` + strings.Join(items, ",") + `]}`
	t.Run("stores every item's record", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		o := newObserved(t, &config.Audit{Mode: "strict", Sink: "file", Path: path})
		r := o.do(t, "POST", "/v1/sign/batch", aliceKey, body)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if got := strings.Count(readFile(t, path), "\n"); got != 50 {
			t.Fatalf("%d records for a batch of 50", got)
		}
		// How many commits stored them depends on how fast this machine's
		// fsync is and how its scheduler runs the items' goroutines; that
		// the records reach the pipeline together, and that the pipeline
		// groups what waits, is tested without either
		// (TestStrictAuditGetsABatchsRecordsTogether, audit's TestGroupCommit).
		t.Logf("%v commits for one batch of 50", o.scrape(t)["signgate_audit_commit_records"])
	})
	t.Run("gives every item 503 and no URL when the records cannot be stored", func(t *testing.T) {
		o := newObserved(t, &config.Audit{Mode: "strict", Sink: "file", Path: "/dev/full"})
		r := o.do(t, "POST", "/v1/sign/batch", aliceKey, body)
		if strings.Contains(r.raw, `"url"`) || strings.Contains(r.raw, "X-Amz-Signature") {
			t.Fatalf("a batch whose records failed carries URLs: %s", r.raw)
		}
		if n := strings.Count(r.raw, `"code":"audit_unavailable"`); n != 50 {
			t.Fatalf("%d items answered audit_unavailable, want 50: %s", n, r.raw)
		}
	})
}
