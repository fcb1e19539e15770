package audit

import (
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// TestWhatTheMemoMayKeyOn: the analysis allows the memo only when the
// rules the drop and mask queries reach read input at fixed prefixes and
// nothing else that changes between records.
func TestWhatTheMemoMayKeyOn(t *testing.T) {
	for _, tc := range []struct {
		name      string
		givenRego string
		wantMemo  bool
		wantReads []string
	}{
		{"no drop or mask policy", `x := input.y`, true, nil},
		{"a fixed path", `mask contains "/input/a" if input.input.a == 1`, true, []string{`input.a`}},
		{"a dynamic path keys on its fixed prefix", `mask contains "/input/a" if input.input.a[_] == 1`, true, []string{`input.a`}},
		{"through a helper and a function", `
mask contains "/input/a" if helper
helper if f(input.custom)
f(x) if x.status == 403`, true, []string{`custom`}},
		{"a rule the queries do not reach", `
mask contains "/input/a" if input.input.a
other if { some k, _ in input; k }`, true, []string{`input.a`}},
		{"the whole input", `mask contains "/input/a" if count(input) > 1`, false, nil},
		{"iterating input", `drop if { some k, _ in input; k == "x" }`, false, nil},
		{"with input", `
h if input.x
drop if h with input as {"x": true}`, false, nil},
		{"the clock", `drop if time.now_ns() < 0`, false, nil},
		{"a fresh uuid", `mask contains {"op": "upsert", "path": "/input/id", "value": uuid.rfc4122("k")}`, false, nil},
		{"the runtime", `drop if opa.runtime().env.X`, false, nil},
		{"http", `drop if http.send({"method": "GET", "url": "http://127.0.0.1:1"}).status_code == 200`, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ast.MustCompileModules(map[string]string{"log.rego": "package system.log\n" + tc.givenRego})
			rs := analyze(c, dropRef, maskRef)
			if rs.memo != tc.wantMemo {
				t.Fatalf("memo %v (%s), want %v", rs.memo, rs.why, tc.wantMemo)
			}
			if !tc.wantMemo {
				return
			}
			var reads []string
			for _, p := range rs.paths {
				reads = append(reads, p.String())
			}
			if len(reads) != len(tc.wantReads) {
				t.Fatalf("reads %q, want %q", reads, tc.wantReads)
			}
			for i := range reads {
				if reads[i] != tc.wantReads[i] {
					t.Fatalf("reads %q, want %q", reads, tc.wantReads)
				}
			}
		})
	}
}
