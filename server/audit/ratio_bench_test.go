package audit

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/server/config"
)

// BenchmarkRecordDecisionRatio measures, in the same loop and so under the
// same load, one decision of the default policy with its example data and
// the record of that decision as the worker writes it (the event around
// the input value the decision evaluated, the
// drop and mask policies, encoding, the write to a file). The "ratio"
// metric is the record's cost over the decision's (docs/performance.md).
func BenchmarkRecordDecisionRatio(b *testing.B) {
	ctx := context.Background()
	p := newPipeline(&testing.T{}, config.Audit{Sink: "file", Path: filepath.Join(b.TempDir(), "audit.jsonl")}, nil)
	e := authz.New()
	if err := e.Activate(ctx, embeddedPolicy(&testing.T{}), "embedded"); err != nil {
		b.Fatal(err)
	}
	rec := record("d-bench")
	var decideT, recordT time.Duration
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		n++
		t0 := time.Now()
		d, err := e.Decide(ctx, rec.Input)
		t1 := time.Now()
		if err != nil || !d.Allow {
			b.Fatalf("decision %+v, err %v", d, err)
		}
		rec.InputAST = d.InputAST // as the server's exit hands it on
		if err := p.logRecord(ctx, rec); err != nil {
			b.Fatal(err)
		}
		if err := p.sink.commit(false); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		decideT += t1.Sub(t0)
		recordT += t2.Sub(t1)
	}
	if n > 0 && decideT > 0 {
		b.ReportMetric(float64(decideT.Nanoseconds())/float64(n), "decision_ns/op")
		b.ReportMetric(float64(recordT.Nanoseconds())/float64(n), "record_ns/op")
		b.ReportMetric(float64(recordT)/float64(decideT), "ratio")
	}
}
