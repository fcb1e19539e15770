package authz_test

import (
	"context"
	"fmt"

	"github.com/signgate/signgate/authz"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signgate/signgate/bundles/bundletest"
	"github.com/signgate/signgate/tests/eventually"
)

// TestSwapsAreAtomicUnderLoad reloads between two revisions whose decisions
// differ (ttl 60 in "a", 120 in "b") while decisions are in flight: every
// decision must come whole from one revision, never a mix, and never fail.
// Each revision is decided on before the next reload: the scheduler of a
// loaded machine may otherwise run every reload before any decision.
func TestSwapsAreAtomicUnderLoad(t *testing.T) {
	wantTTL := map[string]time.Duration{"a": time.Minute, "b": 2 * time.Minute}
	revs := map[string]bundletest.Files{"a": bundletest.Policy(60), "b": bundletest.Policy(120)}
	decided := map[string]*atomic.Int64{"a": {}, "b": {}}
	e := authz.New()
	ctx := context.Background()
	if err := e.Activate(ctx, bundletest.Build(t, revs["a"], "a", nil), "test"); err != nil {
		t.Fatal(err)
	}

	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		reloads int
	)
	failures := make(chan string, 8)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := visionRead()
			for !stop.Load() {
				d, err := e.Decide(ctx, in)
				switch {
				case err != nil:
					failures <- "decision failed during a reload: " + err.Error()
					return
				case d.TTL != wantTTL[d.Revision]:
					failures <- "revision " + d.Revision + " decided ttl " + d.TTL.String()
					return
				}
				decided[d.Revision].Add(1)
			}
		}()
	}
	for _, rev := range strings.Split(strings.Repeat("b a ", 15), " ") {
		if rev == "" {
			continue
		}
		before := decided[rev].Load()
		if err := e.Activate(ctx, bundletest.Build(t, revs[rev], rev, nil), "test"); err != nil {
			t.Fatal(err)
		}
		reloads++
		eventually.True(t, 15*time.Second, fmt.Sprintf("a decision from revision %s after reload %d", rev, reloads), func() bool {
			return decided[rev].Load() > before || len(failures) > 0
		})
		if len(failures) > 0 {
			break
		}
	}
	stop.Store(true)
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
	t.Logf("%d reloads; decisions from a: %d, from b: %d", reloads, decided["a"].Load(), decided["b"].Load())
}

func TestExplainTracesTheDecisionOfTheActiveRevision(t *testing.T) {
	e := authz.New()
	ctx := context.Background()
	if _, _, err := e.Explain(ctx, visionRead(), authz.ExplainFull); err != authz.ErrNotReady {
		t.Fatalf("explain before activation: %v", err)
	}
	if err := e.Activate(ctx, bundletest.Build(t, bundletest.Policy(60), "r1", nil), "test"); err != nil {
		t.Fatal(err)
	}
	d, trace, err := e.Explain(ctx, visionRead(), authz.ExplainFull)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := e.Decide(ctx, visionRead())
	if d.Revision != "r1" || d.TTL != plain.TTL || d.Allow != plain.Allow || d.Key != plain.Key {
		t.Fatalf("explained decision %+v differs from %+v", d, plain)
	}
	text := strings.Join(trace, "\n")
	for _, want := range []string{"Enter data.signgate.authz.decision", "/authz.rego:", "Exit data.signgate.authz.decision"} {
		if !strings.Contains(text, want) {
			t.Errorf("trace lacks %q:\n%s", want, text)
		}
	}
}

func TestSigningKeyID(t *testing.T) {
	key := bundletest.NewKey(t, "ci-2026")
	signed := bundletest.Build(t, bundletest.Policy(60), "r1", key)
	unsigned := bundletest.Build(t, bundletest.Policy(60), "r1", nil)
	tests := []struct {
		name        string
		givenSigned bool
		givenKeyID  string // the configured key id
		want        string
	}{
		{name: "names no key for an unsigned bundle", want: ""},
		{name: "takes the token's kid", givenSigned: true, want: "ci-2026"},
		{name: "prefers the configured key id, as OPA's verifier does", givenSigned: true, givenKeyID: "pinned", want: "pinned"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := unsigned
			if tc.givenSigned {
				b = signed
			}
			vc := key.Verification(t, "")
			vc.KeyID = tc.givenKeyID
			if got := authz.SigningKeyID(b, vc); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// visionRead is a read by a member of team vision.
func visionRead() *authz.Input {
	return &authz.Input{
		Subject: authz.Subject{ID: "alice", Teams: []string{"vision"}, AuthMethod: "api_key"},
		Action:  authz.Action{Team: "vision", Operation: "read", Object: "a.txt"},
		Source:  authz.Source{IP: "127.0.0.1"},
		Time:    "2026-11-27T10:00:00Z",
	}
}
