package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/bundles"
	"github.com/signgate/signgate/policies"
	"github.com/signgate/signgate/server/config"
	"github.com/signgate/signgate/tests/decisionlog"
)

var testNow = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// auditConfig is cfg.audit with the defaults filled in.
func auditConfig(t *testing.T, a config.Audit) config.Audit {
	t.Helper()
	c := config.Config{Audit: a}
	c.SetDefaults()
	return c.Audit
}

// newPipeline starts a pipeline for a, masked by the embedded policy, and
// closes it at the end of the test.
func newPipeline(t *testing.T, a config.Audit, reg prometheus.Registerer) *Pipeline {
	t.Helper()
	p, err := New(context.Background(), auditConfig(t, a), WithRegisterer(reg), WithClock(func() time.Time { return testNow }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	if err := p.UsePolicy(context.Background(), embeddedPolicy(t)); err != nil {
		t.Fatal(err)
	}
	return p
}

func embeddedPolicy(t *testing.T) *bundle.Bundle {
	t.Helper()
	b, err := bundles.LoadFS(policies.FS)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// record is an allowed /v1/sign decision of a JWT caller with claims the
// mask must remove.
func record(id string) *Record {
	return &Record{
		DecisionID: id,
		Input: &authz.Input{
			Subject: authz.Subject{ID: "alice", Teams: []string{"vision"}, AuthMethod: "jwt", Claims: map[string]any{
				"sub": "alice", "iss": "https://login.example.com/", "groups": []any{"vision"},
				"email": "alice@example.com", "phone": "+1 555 0100",
			}},
			Action: authz.Action{Team: "vision", Operation: "read", Object: "runs/42/model.pt", ExpiresIn: 7200},
			Source: authz.Source{IP: "10.0.3.7", UserAgent: "curl/8.5.0"},
			Time:   testNow.Format(time.RFC3339),
		},
		Result: &authz.Decision{Allow: true, Reasons: []string{}, Connector: "vision-s3",
			Key: "vision/runs/42/model.pt", Operation: "read", TTL: time.Hour, Revision: "sha256:3f1c"},
		Revision:        "sha256:3f1c",
		Timestamp:       testNow,
		RequestID:       "req-" + id,
		Endpoint:        "/v1/sign",
		Status:          200,
		Provider:        "s3",
		Bucket:          "acme-vision",
		ExpiresAt:       testNow.Add(time.Hour),
		ExpiryClampedBy: "policy",
		EvalTime:        42 * time.Microsecond,
		SignTime:        17 * time.Microsecond,
	}
}

// denial is the record of a denied /v1/sign: it issues no URL, so
// best_effort may shed it.
func denial(id string) *Record {
	r := record(id)
	r.Result = &authz.Decision{Allow: false, Reasons: []string{"not_a_member"}, Revision: "sha256:3f1c"}
	r.Status, r.Provider, r.Bucket = 403, "", ""
	r.ExpiresAt, r.ExpiryClampedBy = time.Time{}, ""
	return r
}

// gatedWriter holds every write until open is closed: a sink that cannot
// keep up.
type gatedWriter struct {
	open chan struct{}
	mu   sync.Mutex
	n    int
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	<-w.open
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n += len(p)
	return len(p), nil
}

// event is a record as written, the fields the tests read.
type event struct {
	DecisionID string            `json:"decision_id"`
	Path       string            `json:"path"`
	Labels     map[string]string `json:"labels"`
	Bundles    map[string]struct {
		Revision string `json:"revision"`
	} `json:"bundles"`
	Input struct {
		Subject struct {
			ID     string         `json:"id"`
			Claims map[string]any `json:"claims"`
		} `json:"subject"`
		Action map[string]any `json:"action"`
	} `json:"input"`
	Result    map[string]any `json:"result"`
	Masked    []string       `json:"masked"`
	Timestamp time.Time      `json:"timestamp"`
	Metrics   map[string]any `json:"metrics"`
	Error     map[string]any `json:"error"`
	Custom    struct {
		RequestID       string `json:"request_id"`
		Endpoint        string `json:"endpoint"`
		Status          int    `json:"status"`
		Error           string `json:"error"`
		Provider        string `json:"provider"`
		Bucket          string `json:"bucket"`
		ExpiresAt       string `json:"expires_at"`
		ExpiryClampedBy string `json:"expiry_clamped_by"`
	} `json:"custom"`
}

func readEvents(t *testing.T, path string) []event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []event
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

// logService is an OPA decision-log service: it takes gzipped JSON arrays
// on POST /logs, as OPA's plugin sends them.
type logService struct {
	*httptest.Server
	mu     sync.Mutex
	events []event
	posts  int
	auth   []string
}

func newLogService(t *testing.T) *logService {
	t.Helper()
	s := &logService{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		batch, ok := decisionlog.ReadBatch[event](w, r)
		if !ok {
			return
		}
		s.mu.Lock()
		s.events = append(s.events, batch...)
		s.posts++
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		s.mu.Unlock()
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *logService) received() []event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]event(nil), s.events...)
}

// downURL is the URL of a port where nothing listens.
func downURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func gatherValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue metric
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	t.Fatalf("no metric %s%v", name, labels)
	return 0
}

// hangHandler answers nothing until release is closed.
func hangHandler(release <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release })
}

// gateHandler refuses with 503 until open is closed, then hands requests
// to next.
func gateHandler(open <-chan struct{}, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-open:
			next.ServeHTTP(w, r)
		default:
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		}
	})
}
