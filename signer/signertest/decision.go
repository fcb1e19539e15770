package signertest

import (
	"context"
	"testing"

	"github.com/signgate/signgate/signer"
)

// Decision ids the suite signs with: UUIDs, as the server makes them.
const (
	decisionA = "0b7f6f5e-3f0c-4a53-9b7e-0e1a5e9f4a11"
	decisionB = "7d3c2a10-96e4-4c1e-8f55-2b9f0c6d1e27"
)

// testDecisionID checks that every operation's URL carries the grant's
// decision id as signer.DecisionParam, exactly once, that a grant without
// one gets no parameter, and that the signature covers it when h says the
// provider signs the query: two grants that differ only in their decision
// id are signed differently, and the same grant twice is signed the same.
func testDecisionID(t *testing.T, h Harness) {
	s := h.MakeSigner(t, fixedClock)
	for _, op := range []signer.Operation{signer.OpRead, signer.OpWrite, signer.OpDelete} {
		t.Run(string(op), func(t *testing.T) {
			g := grant(op, "runs/42/model.pt")
			g.DecisionID = decisionA
			got, err := s.Sign(context.Background(), g)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			q := parse(t, got.URL).Query()
			if v := q[signer.DecisionParam]; len(v) != 1 || v[0] != decisionA {
				t.Errorf("%s = %q, want exactly [%q]", signer.DecisionParam, v, decisionA)
			}
		})
	}
	t.Run("no parameter without a decision id", func(t *testing.T) {
		got, err := s.Sign(context.Background(), grant(signer.OpRead, "k"))
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		if q := parse(t, got.URL).Query(); q.Has(signer.DecisionParam) {
			t.Errorf("URL %s has %s, want none", got.URL, signer.DecisionParam)
		}
	})
	name := "leaves the decision id outside the signature"
	if h.DecisionIDSigned {
		name = "signs the decision id"
	}
	t.Run(name, func(t *testing.T) {
		sigA, sigA2, sigB := signatures(t, h, s)
		if sigA != sigA2 {
			t.Fatalf("the same grant signed twice: %s=%q and %q; want a deterministic signature", h.SignatureParam, sigA, sigA2)
		}
		if h.DecisionIDSigned && sigA == sigB {
			t.Errorf("%s is %q for decision ids %s and %s: the decision id is not signed", h.SignatureParam, sigA, decisionA, decisionB)
		}
		if !h.DecisionIDSigned && sigA != sigB {
			t.Errorf("%s differs between decision ids (%q, %q), but the harness says the provider does not sign it", h.SignatureParam, sigA, sigB)
		}
	})
}

// signatures signs one grant with decisionA twice and with decisionB once,
// and returns the three signatures. A provider on the wall clock may cross
// a second between the signatures; then the URLs differ in their signing
// time as well, so the suite tries again.
func signatures(t *testing.T, h Harness, s signer.Signer) (a, a2, b string) {
	t.Helper()
	for range 5 {
		var sigs, times [3]string
		for i, id := range []string{decisionA, decisionA, decisionB} {
			g := grant(signer.OpRead, "runs/42/model.pt")
			g.DecisionID = id
			got, err := s.Sign(context.Background(), g)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			u := parse(t, got.URL)
			sigs[i] = u.Query().Get(h.SignatureParam)
			if sigs[i] == "" {
				t.Fatalf("URL %s has no %s", got.URL, h.SignatureParam)
			}
			if h.SigningTime != nil {
				at, err := h.SigningTime(u)
				if err != nil {
					t.Fatalf("signing time: %v", err)
				}
				times[i] = at.String()
			}
		}
		if times[0] == times[1] && times[1] == times[2] {
			return sigs[0], sigs[1], sigs[2]
		}
	}
	t.Fatal("the signing time moved on every attempt")
	return "", "", ""
}
