package server_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/signgate/signgate/signer"
)

// rendezvous is a signer whose first calls wait for each other: it tells
// whether a batch had want items signing at the same time.
type rendezvous struct {
	signer.Signer
	want int

	mu       sync.Mutex
	in, most int
	met      chan struct{}
	once     sync.Once
}

func (r *rendezvous) Sign(ctx context.Context, g signer.Grant) (signer.Signed, error) {
	r.mu.Lock()
	r.in++
	r.most = max(r.most, r.in)
	if r.in >= r.want {
		r.once.Do(func() { close(r.met) })
	}
	r.mu.Unlock()
	select {
	case <-r.met:
	case <-time.After(5 * time.Second): // a serial batch: stop waiting, and fail below
		r.once.Do(func() { close(r.met) })
	}
	defer func() {
		r.mu.Lock()
		r.in--
		r.mu.Unlock()
	}()
	return r.Signer.Sign(ctx, g)
}

func TestBatchSignsItemsOnEveryProcessor(t *testing.T) {
	procs := runtime.GOMAXPROCS(2)
	t.Cleanup(func() { runtime.GOMAXPROCS(procs) })
	signers := exampleSigners(t)
	gate := &rendezvous{Signer: signers["vision-s3"], want: 2, met: make(chan struct{})}
	signers["vision-s3"] = gate
	h := newHarness(t, func(o *options) { o.signers = signers })

	items := make([]string, 20)
	for i := range items {
		items[i] = fmt.Sprintf(`{"team":"vision","operation":"read","object":"runs/%d/model.pt"}`, i)
	}
	r := h.do(t, "POST", "/v1/sign/batch", aliceKey, batchBody(items...))
	if r.status != 200 {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
	for i, res := range r.body["results"].([]any) {
		if st := res.(map[string]any)["status"]; st != float64(200) {
			t.Fatalf("item %d: status %v: %s", i, st, r.raw)
		}
	}
	gate.mu.Lock()
	defer gate.mu.Unlock()
	if gate.most != 2 {
		t.Errorf("at most %d items signed at once, want 2 (GOMAXPROCS) for a local signer", gate.most)
	}
}
