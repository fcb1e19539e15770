package server_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signgate/signgate/server"
	"github.com/signgate/signgate/server/audit"
)

// gatheringAuditor is a strict auditor that holds each record until n
// records wait together, as a group commit gathers what is queued. Records
// that come one after another never fill it: the first waits out the
// deadline, and every one of them fails.
type gatheringAuditor struct {
	n        int
	deadline time.Time
	all      chan struct{} // closed once n records wait
	mu       sync.Mutex
	recs     []*server.Record
}

func (g *gatheringAuditor) Strict() bool { return true }

func (g *gatheringAuditor) Record(_ context.Context, r *server.Record) error {
	g.mu.Lock()
	g.recs = append(g.recs, r)
	if len(g.recs) == g.n {
		close(g.all)
	}
	g.mu.Unlock()
	select {
	case <-g.all:
		return nil
	case <-time.After(time.Until(g.deadline)):
		return fmt.Errorf("%w: the batch's other records never came", audit.ErrUnavailable)
	}
}

// TestStrictAuditGetsABatchsRecordsTogether: in strict mode the records of
// a batch go to the auditor together, so that one commit can store them
// all, rather than one commit after another. (How the pipeline groups what
// it is given is tested in server/audit.)
func TestStrictAuditGetsABatchsRecordsTogether(t *testing.T) {
	const n = 50
	var items []string
	for i := range n {
		items = append(items, fmt.Sprintf(`{"team":"vision","operation":"read","object":"b/%d"}`, i))
	}
	g := &gatheringAuditor{n: n, deadline: time.Now().Add(10 * time.Second), all: make(chan struct{})}
	signers := exampleSigners(t)
	h := &harness{e: server.New(embeddedEngine(t, signers), signers, testKeys(t), server.WithClock(clock), server.WithAuditor(g))}
	r := h.do(t, "POST", "/v1/sign/batch", aliceKey, `{"items":[`+strings.Join(items, ",")+`]}`)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if got := strings.Count(r.raw, `"status":200`); got != n {
		t.Fatalf("%d of %d items signed; their records did not reach the auditor together: %s", got, n, r.raw)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.recs) != n {
		t.Fatalf("%d records for a batch of %d", len(g.recs), n)
	}
}
