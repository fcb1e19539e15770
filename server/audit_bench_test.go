package server_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signgate/signgate/server/config"
)

// BenchmarkSignAudited is the cost of strict audit against best_effort:
// POST /v1/sign through the whole handler, the record going to a file on
// disk. best_effort only queues the record; the time includes draining
// the queue at the end, so the worker's share is counted too. strict
// answers only after its record is written and fsynced; concurrent
// requests share a write and an fsync (group commit). "parallel N" runs N
// requests at a time per CPU.
//
//	go test -run '^$' -bench SignAudited -benchtime 2000x ./server/
func BenchmarkSignAudited(b *testing.B) {
	for _, par := range []int{1, 32} {
		for _, mode := range []string{"none", "best_effort", "strict"} {
			b.Run(fmt.Sprintf("%s/parallel_%d", mode, par), func(b *testing.B) {
				var a *config.Audit
				if mode != "none" {
					a = &config.Audit{Mode: mode, Sink: "file", Path: filepath.Join(b.TempDir(), "audit.jsonl")}
				}
				o := newObserved(b, a)
				b.SetParallelism(par)
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						req := httptest.NewRequest("POST", "/v1/sign", strings.NewReader(readVision))
						req.RemoteAddr = "127.0.0.1:40000"
						req.Header.Set("Content-Type", "application/json")
						req.Header.Set("Authorization", "Bearer "+aliceKey)
						rw := httptest.NewRecorder()
						o.e.ServeHTTP(rw, req)
						if rw.Code != 200 {
							b.Errorf("status %d: %s", rw.Code, rw.Body)
							return
						}
					}
				})
				if o.audit != nil {
					if err := o.audit.Close(context.Background()); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					if commits := o.commits(b); commits > 0 {
						b.ReportMetric(float64(b.N)/commits, "records/commit")
					}
				}
			})
		}
	}
}
