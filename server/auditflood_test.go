package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/signgate/signgate/bundles"
	"github.com/signgate/signgate/policies"
	"github.com/signgate/signgate/server"
	"github.com/signgate/signgate/server/audit"
	"github.com/signgate/signgate/server/config"
)

// gatedWriter holds every write until open is closed: a console that
// cannot keep up, so that the queue in front of it fills.
type gatedWriter struct {
	open chan struct{}
	mu   sync.Mutex
	buf  bytes.Buffer
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	<-w.open
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// floodBatch is a batch of 1,000 items alice may not sign (she is not in
// nlp): 1,000 denial records.
func floodBatch() string {
	items := make([]string, 1000) // the batch limit
	for i := range items {
		items[i] = fmt.Sprintf(`{"team":"nlp","operation":"read","object":"flood/%d"}`, i)
	}
	return `{"items":[` + strings.Join(items, ",") + `]}`
}

// TestAuditFloodKeepsTheRecordOfAnIssuedURL: a caller floods the audit
// with denials (8 batches of 1,000 items), signs one URL, then floods
// again (16 batches). The record of that URL is never the one dropped:
// not by best_effort's full queue, nor by the file sink's rotation.
func TestAuditFloodKeepsTheRecordOfAnIssuedURL(t *testing.T) {
	runs := 20
	if testing.Short() {
		runs = 3
	}
	flood := floodBatch()
	signers := exampleSigners(t)
	engine := embeddedEngine(t, signers)
	mask, err := bundles.LoadFS(policies.FS)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		givenMode string
	}{
		{name: "best_effort with a console that cannot keep up", givenMode: "best_effort"},
		{name: "strict with a file rotated every megabyte", givenMode: "strict"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kept, dropped := 0, 0.0
			for run := range runs {
				dir := t.TempDir()
				cfg := config.Config{Audit: config.Audit{Mode: tt.givenMode, Sink: "console", BufferSize: 64}}
				if tt.givenMode == "strict" {
					cfg.Audit.Sink, cfg.Audit.Path = "file", filepath.Join(dir, "audit.jsonl")
					cfg.Audit.Rotation.MaxSizeMB = 1 // default retention
				}
				cfg.SetDefaults()
				w := &gatedWriter{open: make(chan struct{})}
				if tt.givenMode == "strict" {
					close(w.open) // the file sink does not use it
				}
				reg := prometheus.NewRegistry()
				p, err := audit.New(context.Background(), cfg.Audit, audit.WithStdout(w), audit.WithRegisterer(reg))
				if err != nil {
					t.Fatal(err)
				}
				if err := p.UsePolicy(context.Background(), mask); err != nil {
					t.Fatal(err)
				}
				h := &harness{e: server.New(engine, signers, testKeys(t), server.WithClock(clock), server.WithAuditor(p))}
				for range 8 {
					if r := h.do(t, "POST", "/v1/sign/batch", aliceKey, flood); r.status != 200 {
						t.Fatalf("flood batch: %d %.300s", r.status, r.raw)
					}
				}
				r := h.do(t, "POST", "/v1/sign", aliceKey, `{"team":"vision","operation":"read","object":"runs/42/model.pt"}`)
				if r.status != 200 {
					t.Fatalf("run %d: sign after the flood: %d %s", run, r.status, r.raw)
				}
				id := r.header.Get("X-Decision-Id")
				if id == "" {
					id, _ = r.body["decision_id"].(string)
				}
				if id == "" {
					t.Fatalf("the signed answer carries no decision id: %v %s", r.header, r.raw)
				}
				for range 16 {
					if r := h.do(t, "POST", "/v1/sign/batch", aliceKey, flood); r.status != 200 {
						t.Fatalf("flood batch: %d %.300s", r.status, r.raw)
					}
				}
				if tt.givenMode == "best_effort" {
					close(w.open)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				if err := p.Close(ctx); err != nil {
					t.Fatal(err)
				}
				cancel()
				dropped += gatherCounter(t, reg, "signgate_audit_dropped_total")
				var found bool
				if tt.givenMode == "strict" {
					found = fileRecordsHold(t, dir, id)
				} else {
					found = linesHold(t, w.buf.Bytes(), id)
				}
				if found {
					kept++
				} else {
					t.Errorf("run %d: the record of issued URL %s is gone", run, id)
				}
			}
			t.Logf("%s: the issued URL's record kept in %d of %d runs; %.0f other records dropped", tt.givenMode, kept, runs, dropped)
			if tt.givenMode == "best_effort" && dropped == 0 {
				t.Error("no record was dropped: the flood did not fill the queue, so the test proved nothing")
			}
		})
	}
}

func linesHold(t *testing.T, b []byte, id string) bool {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev struct {
			DecisionID string `json:"decision_id"`
			Custom     struct {
				Status    int    `json:"status"`
				ExpiresAt string `json:"expires_at"`
			} `json:"custom"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.DecisionID == id {
			return ev.Custom.Status == 200 && ev.Custom.ExpiresAt != ""
		}
	}
	return false
}

func fileRecordsHold(t *testing.T, dir, id string) bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if linesHold(t, b, id) {
			return true
		}
	}
	return false
}

// gatherCounter sums every series of a counter.
func gatherCounter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}
