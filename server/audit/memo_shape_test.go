package audit

import (
	"bytes"
	"testing"
)

// The memo key must tell apart where along a path a value was found: a
// claim that is the string "secret" and a claim that is an object whose
// key holds "secret" are different records to a rule that reads below
// the claim. Otherwise the second record takes the first one's verdict.

// TestMemoKeepsClaimShapesApartForMasks: record A's claims.pii is a
// string, record B's an object; after A, B must still be masked as OPA's
// plugin masks it.
func TestMemoKeepsClaimShapesApartForMasks(t *testing.T) {
	p := diffPipeline(t, policyBundle(t, `mask contains "/input/subject/claims/phone" if input.input.subject.claims.pii.flag == "secret"`))
	recA := record("a")
	recA.Input.Subject.Claims = map[string]any{"pii": "secret", "phone": "+1 555 0100"}
	recB := record("b")
	recB.Input.Subject.Claims = map[string]any{"pii": map[string]any{"flag": "secret"}, "phone": "+1 555 0199"}
	want := runPath(p, recB, p.logRecordOPA)
	_ = runPath(p, recA, p.logRecord)
	got := runPath(p, recB, p.logRecord)
	if !bytes.Equal(want.line, got.line) {
		t.Fatalf("record B after record A:\nOPA's plugin %s\ndirect path  %s", want.line, got.line)
	}
}

// TestMemoKeepsClaimShapesApartForDrops: the same for a drop rule, where
// a mix-up would drop a record that OPA's plugin keeps.
func TestMemoKeepsClaimShapesApartForDrops(t *testing.T) {
	p := diffPipeline(t, policyBundle(t, `drop if input.input.subject.claims.tier.name == "internal"`))
	recA := record("a")
	recA.Input.Subject.Claims = map[string]any{"tier": map[string]any{"name": "internal"}}
	recB := record("b")
	recB.Input.Subject.Claims = map[string]any{"tier": "internal"}
	want := runPath(p, recB, p.logRecordOPA)
	_ = runPath(p, recA, p.logRecord)
	got := runPath(p, recB, p.logRecord)
	if !sameOutcome(want, got) {
		t.Fatalf("record B after record A: OPA's plugin %+v, direct path %+v", want, got)
	}
}
