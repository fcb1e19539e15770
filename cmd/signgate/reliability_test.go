package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSIGTERMUnderLoadKeepsEveryRecord: workers sign without pause while
// serve is told to stop (what SIGTERM does); every decision a client got
// an answer for has its record, in both audit modes.
func TestSIGTERMUnderLoadKeepsEveryRecord(t *testing.T) {
	for _, mode := range []string{"best_effort", "strict"} {
		t.Run(mode, func(t *testing.T) {
			auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
			s, c, _ := limitsServe(t, "", fmt.Sprintf("{mode: %s, sink: file, path: %q}", mode, auditFile))
			const workers, maxPerWorker = 8, 400
			var answered decisionSet
			var sent, failed atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					cl := &client{t: t, base: c.base, http: &http.Client{Timeout: 5 * time.Second}}
					for range maxPerWorker {
						select {
						case <-stop:
							return
						default:
						}
						sent.Add(1)
						status, id, err := cl.try("limits-test-key")
						switch {
						case err != nil && id == "":
							failed.Add(1) // no answer: the listener had closed
						case status == http.StatusOK:
							answered.add(t, id)
						}
					}
				})
			}
			time.Sleep(300 * time.Millisecond) // under load
			s.shutdown(t)
			close(stop)
			wg.Wait()
			recs := map[string]bool{}
			for _, id := range auditIDs(t, auditFile) {
				recs[id] = true
			}
			missing := 0
			answered.mu.Lock()
			for id := range answered.ids {
				if !recs[id] {
					missing++
				}
			}
			n := len(answered.ids)
			answered.mu.Unlock()
			t.Logf("%s: %d requests sent, %d answered 200 before and during the shutdown, %d not answered (sent as the listener closed or after), %d records; answered without a record: %d",
				mode, sent.Load(), n, failed.Load(), len(recs), missing)
			if n == 0 {
				t.Fatal("no request was answered: the load never ran")
			}
			if missing != 0 {
				t.Errorf("%d answered decisions have no record", missing)
			}
		})
	}
}
