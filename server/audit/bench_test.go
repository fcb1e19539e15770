package audit

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/signgate/signgate/server/config"
)

// BenchmarkWorker is the worker's cost per record, off the request path:
// the OPA event, the drop and mask policies, JSON encoding and the write.
func BenchmarkWorker(b *testing.B) {
	p := newPipeline(&testing.T{}, config.Audit{Sink: "file", Path: filepath.Join(b.TempDir(), "audit.jsonl")}, nil)
	rec := record("d-bench")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := p.logRecord(ctx, rec); err != nil {
			b.Fatal(err)
		}
		if err := p.sink.commit(false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecord is Record from many goroutines at once, until every
// record is stored: best_effort (the queue, drained at the end) against
// strict (each call waits for its group's write and fsync).
func BenchmarkRecord(b *testing.B) {
	for _, mode := range []string{"best_effort", "strict"} {
		for _, par := range []int{1, 32} {
			b.Run(fmt.Sprintf("%s/parallel_%d", mode, par), func(b *testing.B) {
				p, err := New(context.Background(), auditConfig(&testing.T{}, config.Audit{Mode: mode, Sink: "file", Path: filepath.Join(b.TempDir(), "audit.jsonl")}))
				if err != nil {
					b.Fatal(err)
				}
				var once sync.Once
				b.SetParallelism(par)
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := p.Record(context.Background(), record("d-bench")); err != nil {
							once.Do(func() { b.Error(err) })
							return
						}
					}
				})
				if err := p.Close(context.Background()); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}
