package audit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/server/config"
	"github.com/signgate/signgate/tests/eventually"
)

func TestWritesOneMaskedRecordInOPAsEventShape(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	p := newPipeline(t, config.Audit{Sink: "file", Path: path, InstanceID: "replica-1"}, nil)
	rec := record("d-1")
	if err := p.Record(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	events := readEvents(t, path)
	if len(events) != 1 {
		t.Fatalf("%d records, want 1", len(events))
	}
	e := events[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"decision_id", e.DecisionID, "d-1"},
		{"path", e.Path, "signgate/authz/decision"},
		{"labels.app", e.Labels["app"], "signgate"},
		{"labels.id", e.Labels["id"], "replica-1"},
		{"bundles.signgate.revision", e.Bundles["signgate"].Revision, "sha256:3f1c"},
		{"input.subject.id", e.Input.Subject.ID, "alice"},
		{"input.action.object", e.Input.Action["object"], "runs/42/model.pt"},
		{"result.allow", e.Result["allow"], true},
		{"result.ttl_seconds", e.Result["ttl_seconds"], float64(3600)},
		{"timestamp", e.Timestamp, testNow},
		{"metrics.timer_rego_query_eval_ns", e.Metrics["timer_rego_query_eval_ns"], float64(42000)},
		{"metrics.timer_signgate_sign_ns", e.Metrics["timer_signgate_sign_ns"], float64(17000)},
		{"custom.request_id", e.Custom.RequestID, "req-d-1"},
		{"custom.endpoint", e.Custom.Endpoint, "/v1/sign"},
		{"custom.status", e.Custom.Status, 200},
		{"custom.provider", e.Custom.Provider, "s3"},
		{"custom.bucket", e.Custom.Bucket, "acme-vision"},
		{"custom.expires_at", e.Custom.ExpiresAt, "2026-11-27T11:00:00Z"},
		{"custom.expiry_clamped_by", e.Custom.ExpiryClampedBy, "policy"},
	}
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	t.Run("masks every claim but sub, iss and groups", func(t *testing.T) {
		want := map[string]any{"sub": "alice", "iss": "https://login.example.com/", "groups": []any{"vision"}}
		if fmt.Sprint(e.Input.Subject.Claims) != fmt.Sprint(want) {
			t.Errorf("claims = %v, want %v", e.Input.Subject.Claims, want)
		}
		if !slices.Equal(e.Masked, []string{"/input/subject/claims"}) {
			t.Errorf("masked = %v", e.Masked)
		}
	})
	t.Run("leaves the request's own claims alone", func(t *testing.T) {
		if _, ok := rec.Input.Subject.Claims["email"]; !ok {
			t.Error("masking a record removed a claim from the request's principal")
		}
	})
}

func TestRecordsAFailedDecisionWithItsErrorCode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	p := newPipeline(t, config.Audit{Sink: "file", Path: path}, nil)
	rec := record("d-err")
	rec.Result, rec.Status, rec.Error = nil, 500, "policy_error"
	rec.Provider, rec.Bucket, rec.ExpiresAt, rec.ExpiryClampedBy = "", "", time.Time{}, ""
	if err := p.Record(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := readEvents(t, path)[0]
	if e.Result != nil || e.Custom.Status != 500 || e.Custom.Error != "policy_error" || e.Error["code"] != "policy_error" {
		t.Errorf("record = %+v, want no result, status 500, error policy_error", e)
	}
	if e.Custom.ExpiresAt != "" || e.Custom.Provider != "" {
		t.Errorf("a failed decision's record names an expiry or provider: %+v", e.Custom)
	}
}

func TestStrictMode(t *testing.T) {
	t.Run("stores a record before Record returns", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		p := newPipeline(t, config.Audit{Mode: "strict", Sink: "file", Path: path}, nil)
		for i := range 3 {
			if err := p.Record(context.Background(), record(fmt.Sprint("d-", i))); err != nil {
				t.Fatal(err)
			}
			if got := len(readEvents(t, path)); got != i+1 {
				t.Fatalf("after %d acknowledged records the file holds %d", i+1, got)
			}
		}
	})
	t.Run("fails closed when the file cannot be written", func(t *testing.T) {
		// /dev/full takes the open and fails every write with ENOSPC: a
		// full disk. (A read-only file would not do: the tests may run as
		// root.)
		p := newPipeline(t, config.Audit{Mode: "strict", Sink: "file", Path: "/dev/full"}, nil)
		err := p.Record(context.Background(), record("d-full"))
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
	})
	t.Run("fails closed when the decision-log service is down", func(t *testing.T) {
		p := newPipeline(t, config.Audit{Mode: "strict", Sink: "service", Service: config.AuditService{URL: downURL(t)}}, nil)
		err := p.Record(context.Background(), record("d-down"))
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
	})
	t.Run("fails closed when the service does not answer in time", func(t *testing.T) {
		hang := make(chan struct{})
		svc := newLogService(t)
		svc.Config.Handler = hangHandler(hang)
		defer close(hang)
		p := newPipeline(t, config.Audit{Mode: "strict", Sink: "service", StrictTimeout: config.Duration{Duration: 200 * time.Millisecond},
			Service: config.AuditService{URL: svc.URL}}, nil)
		start := time.Now()
		err := p.Record(context.Background(), record("d-slow"))
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Record took %s with a 200ms strict_timeout", d)
		}
	})
	t.Run("is acknowledged by the decision-log service", func(t *testing.T) {
		svc := newLogService(t)
		p := newPipeline(t, config.Audit{Mode: "strict", Sink: "service", Service: config.AuditService{URL: svc.URL}}, nil)
		if err := p.Record(context.Background(), record("d-svc")); err != nil {
			t.Fatal(err)
		}
		got := svc.received()
		if len(got) != 1 || got[0].DecisionID != "d-svc" || got[0].Custom.Status != 200 {
			t.Fatalf("service received %+v, want the one record before Record returned", got)
		}
		if _, ok := got[0].Input.Subject.Claims["email"]; ok {
			t.Error("the uploaded record was not masked")
		}
	})
	t.Run("follows a record whose upload failed with a 503 record once the service is back", func(t *testing.T) {
		svc := newLogService(t)
		up := make(chan struct{})
		down := svc.Config.Handler
		svc.Config.Handler = gateHandler(up, down)
		p := newPipeline(t, config.Audit{Mode: "strict", Sink: "service", Service: config.AuditService{URL: svc.URL}}, nil)
		if err := p.Record(context.Background(), record("d-lost")); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable while the service refuses", err)
		}
		close(up)
		if err := p.Record(context.Background(), record("d-next")); err != nil {
			t.Fatal(err)
		}
		var statuses []string
		for _, e := range svc.received() {
			statuses = append(statuses, fmt.Sprintf("%s:%d:%s", e.DecisionID, e.Custom.Status, e.Custom.Error))
		}
		slices.Sort(statuses)
		want := []string{"d-lost:200:", "d-lost:503:audit_unavailable", "d-next:200:"}
		if !slices.Equal(statuses, want) {
			t.Errorf("service received %v, want %v", statuses, want)
		}
	})
	t.Run("follows a record stored after its caller's timeout with a 503 record", func(t *testing.T) {
		// The first upload holds the worker, so the second record waits in
		// the queue past its strict_timeout; its own upload then succeeds.
		svc := newLogService(t)
		var posts atomic.Int32
		delays := []time.Duration{800 * time.Millisecond, 600 * time.Millisecond}
		next := svc.Config.Handler
		svc.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n := int(posts.Add(1)) - 1; n < len(delays) {
				time.Sleep(delays[n])
			}
			next.ServeHTTP(w, r)
		})
		p := newPipeline(t, config.Audit{Mode: "strict", Sink: "service", StrictTimeout: config.Duration{Duration: time.Second},
			Service: config.AuditService{URL: svc.URL}}, nil)
		first := make(chan error, 1)
		go func() { first <- p.Record(context.Background(), record("d-first")) }()
		eventually.True(t, 5*time.Second, "the first upload", func() bool { return posts.Load() == 1 })
		late := record("d-late")
		if err := p.Record(context.Background(), late); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable after the strict_timeout", err)
		}
		if err := <-first; err != nil {
			t.Fatalf("first record: %v", err)
		}
		eventually.True(t, 5*time.Second, "the late record's upload", func() bool { return posts.Load() >= 2 })
		if err := p.Record(context.Background(), record("d-next")); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range svc.received() {
			if e.DecisionID == "d-late" {
				got = append(got, fmt.Sprintf("%d:%s:%s", e.Custom.Status, e.Custom.Error, e.Custom.ExpiresAt))
			}
		}
		want := []string{"200::" + late.ExpiresAt.Format(time.RFC3339), "503:audit_unavailable:"}
		if !slices.Equal(got, want) {
			t.Errorf("records of d-late %v, want %v: the last must say the caller got 503 and no URL", got, want)
		}
	})
	t.Run("fails a record that a drop policy drops", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		p := newPipeline(t, config.Audit{Mode: "strict", Sink: "file", Path: path}, nil)
		if err := p.UsePolicy(context.Background(), policyWith(t, "package system.log\n\ndrop := true\n")); err != nil {
			t.Fatal(err)
		}
		if err := p.Record(context.Background(), record("d-dropped")); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable: no record was stored", err)
		}
	})
}

// TestGroupCommit: what waits in the queue while a commit is under way is
// stored by the next commit, as one group. The first commit is held until
// the other records are queued, so that the test does not depend on how
// fast this machine's fsync is or how its scheduler runs the goroutines.
func TestGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	reg := prometheus.NewRegistry()
	p := newPipeline(t, config.Audit{Mode: "strict", Sink: "file", Path: path}, reg)
	syncing, release := make(chan struct{}, 1), make(chan struct{})
	fsync := p.sink.sync
	p.sink.sync = func() error { // set before the first record reaches the worker
		select {
		case syncing <- struct{}{}:
			<-release
		default:
		}
		return fsync()
	}
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	wg.Go(func() { errs <- p.Record(context.Background(), record("d-first")) })
	<-syncing // the first record's commit is under way, alone
	for i := range n - 1 {
		wg.Go(func() { errs <- p.Record(context.Background(), record(fmt.Sprint("d-", i))) })
	}
	eventually.Check(t, 5*time.Second, "the other records to queue", func() error {
		if q := len(p.queue); q < n-1 {
			return fmt.Errorf("%d queued", q)
		}
		return nil
	})
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := len(readEvents(t, path)); got != n {
		t.Fatalf("file holds %d records, want %d", got, n)
	}
	if commits := gatherValue(t, reg, "signgate_audit_commit_records", nil); commits != 2 {
		t.Errorf("%v commits for one record, then %d records that waited together; want 2", commits, n-1)
	}
	if got := gatherValue(t, reg, "signgate_audit_records_written_total", map[string]string{"sink": "file"}); got != n {
		t.Errorf("written_total = %v, want %d", got, n)
	}
}

func TestBestEffort(t *testing.T) {
	t.Run("a full queue drops its oldest record and counts it", func(t *testing.T) {
		p := &Pipeline{queue: make(chan *item, 2)}
		for i := range 5 {
			p.enqueue(&item{rec: record(fmt.Sprint("d-", i))})
		}
		if got := p.stats.dropped[dropQueueFull].Load(); got != 3 {
			t.Errorf("dropped = %d, want 3", got)
		}
		var kept []string
		for range 2 {
			kept = append(kept, (<-p.queue).rec.DecisionID)
		}
		if !slices.Equal(kept, []string{"d-3", "d-4"}) {
			t.Errorf("kept %v, want the newest two", kept)
		}
	})
	t.Run("serves on with the decision-log service down, and counts the drops", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		p := newPipeline(t, config.Audit{Sink: "service", BufferSize: 4, Service: config.AuditService{URL: downURL(t)}}, reg)
		for i := range 50 {
			if err := p.Record(context.Background(), record(fmt.Sprint("d-", i))); err != nil {
				t.Fatalf("best_effort Record failed: %v", err)
			}
		}
		eventually.Check(t, 5*time.Second, "at least 40 of 50 records counted as dropped", func() error {
			buffer := gatherValue(t, reg, "signgate_audit_dropped_total", map[string]string{"reason": "buffer_full"})
			queue := gatherValue(t, reg, "signgate_audit_dropped_total", map[string]string{"reason": "queue_full"})
			if buffer+queue < 40 {
				return fmt.Errorf("dropped: %v buffer_full, %v queue_full", buffer, queue)
			}
			return nil
		})
	})
	t.Run("uploads records as OPA does: gzipped JSON arrays with a bearer token", func(t *testing.T) {
		svc := newLogService(t)
		cfg := auditConfig(t, config.Audit{Sink: "service", Service: config.AuditService{URL: svc.URL}})
		p, err := New(context.Background(), cfg, WithServiceToken("s3cret-token"))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			_ = p.Record(context.Background(), record(fmt.Sprint("d-", i)))
		}
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := len(svc.received()); got != 10 {
			t.Fatalf("service received %d records, want 10", got)
		}
		if svc.auth[0] != "Bearer s3cret-token" {
			t.Errorf("Authorization = %q", svc.auth[0])
		}
	})
	t.Run("a file that fails drops the batch and counts it", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		p := newPipeline(t, config.Audit{Sink: "file", Path: "/dev/full"}, reg)
		if err := p.Record(context.Background(), record("d-1")); err != nil {
			t.Fatal(err)
		}
		sinkErrors := func() float64 {
			return gatherValue(t, reg, "signgate_audit_dropped_total", map[string]string{"reason": "sink_error"})
		}
		eventually.True(t, 5*time.Second, "sink_error counted", func() bool { return sinkErrors() > 0 })
		if got := sinkErrors(); got != 1 {
			t.Errorf("sink_error = %v for one record, want 1", got)
		}
	})
}

func TestCloseFlushesEveryQueuedRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	p := newPipeline(t, config.Audit{Sink: "file", Path: path}, nil)
	const n = 1000
	for i := range n {
		_ = p.Record(context.Background(), record(fmt.Sprint("d-", i)))
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(readEvents(t, path)); got != n {
		t.Fatalf("file holds %d records after Close, want %d", got, n)
	}
	if err := p.Record(context.Background(), record("late")); err != nil {
		t.Fatalf("a best_effort Record after Close failed: %v", err)
	}
	if p.stats.dropped[dropClosed].Load() != 1 {
		t.Error("a record after Close was not counted as dropped")
	}
}

func TestANewBundleReplacesTheMask(t *testing.T) {
	tests := []struct {
		name string
		use  func(p *Pipeline, b *bundle.Bundle) error
	}{
		{"through UsePolicy", func(p *Pipeline, b *bundle.Bundle) error { return p.UsePolicy(context.Background(), b) }},
		{"through PolicyActivated, before the next record", func(p *Pipeline, b *bundle.Bundle) error { p.PolicyActivated(b); return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			p := newPipeline(t, config.Audit{Mode: "strict", Sink: "file", Path: path}, nil)
			mask := "package system.log\n\nmask contains \"/input/source\"\n"
			if err := tt.use(p, policyWith(t, mask)); err != nil {
				t.Fatal(err)
			}
			if err := p.Record(context.Background(), record("d-1")); err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(raw), "10.0.3.7") || !strings.Contains(string(raw), "alice@example.com") {
				t.Errorf("the new mask (erase input.source, keep claims) did not apply: %s", raw)
			}
		})
	}
}

// policyWith is a bundle of one Rego module.
func policyWith(t *testing.T, rego string) *bundle.Bundle {
	t.Helper()
	m, err := ast.ParseModule("log.rego", rego)
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle.Bundle{Data: map[string]any{}, Modules: []bundle.ModuleFile{{Path: "log.rego", URL: "log.rego", Raw: []byte(rego), Parsed: m}}}
	b.Manifest.Init()
	return b
}

func TestFollowMasksWithTheEnginesCompiledPolicy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	p := newPipeline(t, config.Audit{Mode: "strict", Sink: "file", Path: path}, nil)
	var compiled []*ast.Compiler
	e := authz.New(authz.WithObserver(func(ev authz.Event) {
		if ev.Kind == authz.EventActivated {
			compiled = append(compiled, ev.Compiler)
		}
		p.Follow(ev)
	}))
	if err := e.Activate(context.Background(), embeddedPolicy(t), "embedded"); err != nil {
		t.Fatal(err)
	}
	if err := p.Record(context.Background(), record("d-1")); err != nil {
		t.Fatal(err)
	}
	if len(compiled) != 1 || compiled[0] == nil {
		t.Fatalf("the activation carried compilers %v, want one", compiled)
	}
	if got := p.opa.mgr.GetCompiler(); got != compiled[0] {
		t.Error("the decision-log plugin evaluates the mask with a compiler of its own, not the engine's: the revision was compiled twice")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "alice@example.com") || !strings.Contains(string(raw), `"sub":"alice"`) {
		t.Errorf("the shipped mask (keep sub, iss and groups only) did not apply: %s", raw)
	}
}
