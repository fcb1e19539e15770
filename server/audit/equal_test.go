package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/server/config"
)

// The differential test: every record goes through OPA's decision-log
// plugin (logRecordOPA, the path the service sink still takes) and through
// the direct path of the console and file sinks, and both must write the
// same bytes, or both write nothing. The policies are the shipped mask
// and generated drop and mask policies.

// maskSnippets are mask rules that compose into one policy.
var maskSnippets = []string{
	`mask contains "/input/subject/claims/email"`,
	`mask contains "/input/subject/claims/a b"`,
	`mask contains "/input/subject/claims/a%20b"`,
	`mask contains "/input/subject/claims/x/y"`,
	`mask contains "/input/subject/claims/nested/deep/0"`,
	`mask contains "/input/subject/claims/list/1"`,
	`mask contains "/input/subject/teams/0"`,
	`mask contains "/input/subject/teams/1"`,
	`mask contains "/input/subject/teams/9"`,
	`mask contains "/input/subject/teams/-1"`,
	`mask contains "/input/action/missing/path"`,
	`mask contains "/result/reasons/0"`,
	`mask contains "/result/constraints/advisory/0"`,
	`mask contains "/result"`,
	`mask contains "/input"`,
	`mask contains "/nd_builtin_cache"`,
	`mask contains "/input/"`,
	`mask contains "/input/time/x"`,
	`mask contains {"op": "upsert", "path": "/input/source/ip", "value": "0.0.0.0"}`,
	`mask contains {"op": "upsert", "path": "/input/new/deep/key", "value": {"n": 1, "s": [true, null, "\u2028<&>"]}}`,
	`mask contains {"op": "upsert", "path": "/input/subject/teams/0", "value": "x"}`,
	`mask contains {"op": "upsert", "path": "/input/subject/teams/5/x", "value": 1}`,
	`mask contains {"op": "upsert", "path": "/input/subject/teams/0/x", "value": 1}`,
	`mask contains {"op": "upsert", "path": "/input/subject/claims/list/0", "value": {"z": 1.5e300}}`,
	`mask contains {"op": "upsert", "path": "/result/constraints/ip_range", "value": "masked"}`,
	`mask contains {"op": "upsert", "path": "/result", "value": {"masked": true}}`,
	`mask contains {"op": "upsert", "path": "/input"}`,
	`mask contains {"op": "upsert", "path": "/input/time", "value": null}`,
	`mask contains {"op": "upsert", "path": "/nd_builtin_cache/x", "value": 1}`,
	`mask contains {"op": "upsert", "path": "/input/a", "value": {"b": {"c": 1}}}`,
	`mask contains {"op": "upsert", "path": "/input/a/b/d", "value": 2}`,
	`mask contains {"op": "upsert", "path": "/input/a/b/c/e", "value": 3}`,
	`mask contains {"op": "remove", "path": "/input/source/user_agent"}`,
	`mask contains "/input/source/user_agent" if input.input.source.ip == "10.0.3.7"`,
	`mask contains sprintf("/input/subject/claims/%s", [k]) if {
	some k, _ in input.input.subject.claims
	startswith(k, "e")
}`,
	`mask contains {"op": "upsert", "path": "/input/subject/claims", "value": object.filter(input.input.subject.claims, {"sub"})} if count(input.input.subject.claims) > 2`,
	`mask contains {"op": "upsert", "path": "/input/subject/claims", "value": object.filter(input.input.subject.claims, data.mask_cfg.kept)} if input.input.subject.auth_method == "jwt"`,
	`mask contains "/input/action/object" if input.custom.status >= 400`,
	`mask contains "/input/subject/id" if endswith(input.decision_id, "7")`,
	`mask contains "/result/key" if input.result.allow`,
	`mask contains "/input/subject/principal" if input.metrics.timer_signgate_sign_ns > 1000`,
	`mask contains "/input/source/ip" if hidden_ip(input.input.source)`,
}

// helperSnippets are the functions the snippets call.
const helperSnippets = `
hidden_ip(src) if startswith(src.ip, "10.")
`

// dropSnippets are drop rules that compose into one policy.
var dropSnippets = []string{
	`drop if input.result.allow == false`,
	`drop if input.custom.endpoint == "/v1/decide"`,
	`drop if input.input.subject.claims.drop_me`,
	`drop if input.labels.app == "nope"`,
	`drop if input.error.code == "denied"`,
	`drop if startswith(input.timestamp, "1999")`,
	`drop if input.bundles.signgate.revision == "drop"`,
	`drop if is_api(input.input)`,
	`drop if input.input.action.team == "drop"`,
}

const dropHelpers = `
is_api(x) if {
	x.subject.auth_method == "api_key"
	x.action.operation == "delete"
}
`

// fixedPolicies are whole policies: the ones that fail, and the ones
// whose memo must fall back to evaluating each record.
var fixedPolicies = []diffPolicy{
	{"mask path outside input and result", `mask contains "/custom/request_id"`, true},
	{"mask path with a bad escape", `mask contains "/input/%zz"`, true},
	{"mask rule without op", `mask contains {"path": "/input/time"}`, true},
	{"mask rule with an unknown op", `mask contains {"op": "replace", "path": "/input/time"}`, true},
	{"mask rule with an empty path", `mask contains {"op": "remove", "path": ""}`, true},
	{"mask rule without a slash", `mask contains "input/time"`, true},
	{"mask rule of a wrong type", `mask contains 42`, true},
	{"mask that is not a set", `mask := "/input/time"`, true},
	{"mask that is an empty set", `mask := set()`, true},
	{"mask array", `mask := ["/input/time", {"op": "upsert", "path": "/input/source/ip", "value": "x"}]`, true},
	{"mask that conflicts for some records", `
mask := ["/input/time"] if input.input.subject.auth_method == "jwt"
mask := ["/input/source"] if input.input.action.operation == "read"`, true},
	{"drop that is not a boolean", `drop := 1`, true},
	{"drop that conflicts for some records", `
drop := true if input.input.action.operation == "write"
drop := false if input.input.subject.auth_method == "jwt"`, true},
	{"drop with else", `
drop := true if input.input.action.team == "vision" else := false`, true},
	{"drop reading input whole", `drop if count(input) > 100
mask contains "/input/subject/claims/email"`, false},
	{"mask iterating input", `mask contains sprintf("/input/%s", [k]) if {
	some k, v in input.input
	is_string(v)
}
drop if {
	some k, _ in input
	k == "nope"
}`, false},
	{"mask reading below a claim", `mask contains "/input/subject/claims/phone" if input.input.subject.claims.pii.flag == "secret"`, true},
	{"drop reading below a claim", `drop if input.input.subject.claims.pii.flag == "secret"`, true},
	{"mask with time", `mask contains "/input/source/ip" if time.now_ns() > 0`, false},
	{"mask with a replaced input", `
helper if input.input.subject.id == "alice"
mask contains "/input/time" if helper with input.input.subject.id as "alice"
mask contains "/input/time" if helper with input as {}`, false},
	{"mask with print, which compiles away", `mask contains "/input/time" if print("x")`, true},
}

type diffPolicy struct {
	name string
	rego string
	memo bool // want the memo: every read has a ground prefix
}

// generatedPolicies composes random drop and mask policies.
func generatedPolicies(rng *rand.Rand, n int) []diffPolicy {
	var out []diffPolicy
	for i := range n {
		var rules []string
		for _, s := range maskSnippets {
			if rng.IntN(4) == 0 {
				rules = append(rules, s)
			}
		}
		for _, s := range dropSnippets {
			if rng.IntN(5) == 0 {
				rules = append(rules, s)
			}
		}
		out = append(out, diffPolicy{name: fmt.Sprintf("generated %d", i), rego: strings.Join(rules, "\n") + helperSnippets + dropHelpers, memo: true})
	}
	return out
}

func policyBundle(t testing.TB, rego string) *bundle.Bundle {
	t.Helper()
	src := "package system.log\n\n" + rego + "\n"
	return &bundle.Bundle{
		Data:    map[string]any{"mask_cfg": map[string]any{"kept": []any{"sub", "iss", "a b"}}},
		Modules: []bundle.ModuleFile{{Path: "/log.rego", URL: "/log.rego", Raw: []byte(src)}},
	}
}

// diffPipeline is a console pipeline whose batches the test takes itself.
func diffPipeline(t testing.TB, b *bundle.Bundle) *Pipeline {
	t.Helper()
	p, err := New(context.Background(), auditConfig(&testing.T{}, config.Audit{Sink: "console"}), WithStdout(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	if err := p.UsePolicy(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	return p
}

// outcome is what a path did with one record.
type outcome struct {
	line []byte
	err  error
}

func (o outcome) String() string {
	if o.err != nil {
		return "error: " + o.err.Error()
	}
	return string(o.line)
}

func runPath(p *Pipeline, rec *Record, log func(context.Context, *Record) error) outcome {
	p.sink.buf.Reset()
	err := log(context.Background(), rec)
	line := bytes.Clone(p.sink.buf.Bytes())
	p.sink.buf.Reset()
	return outcome{line: line, err: err}
}

// sameOutcome: the same bytes, or both nothing for the same reason (the
// record was dropped or its mask failed, or it could not be encoded).
func sameOutcome(a, b outcome) bool {
	if (a.err == nil) != (b.err == nil) || errors.Is(a.err, errNotLogged) != errors.Is(b.err, errNotLogged) {
		return false
	}
	return bytes.Equal(a.line, b.line)
}

// compareRecord runs rec through OPA's plugin and twice through the
// direct path (the second time from the memo, when it applies).
func compareRecord(t testing.TB, p *Pipeline, rec *Record) outcome {
	t.Helper()
	want := runPath(p, rec, p.logRecordOPA)
	for range 2 {
		if got := runPath(p, rec, p.logRecord); !sameOutcome(want, got) {
			t.Fatalf("record %s:\nOPA's plugin: %s\ndirect path:  %s", rec.DecisionID, want, got)
		}
	}
	return want
}

func TestRecordsMatchOPAPlugin(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 2026))
	policies := []diffPolicy{{name: "shipped mask", memo: true}}
	policies = append(policies, fixedPolicies...)
	policies = append(policies, generatedPolicies(rng, 24)...)
	const perPolicy = 150
	var written, notWritten, failed, records int
	for _, pol := range policies {
		t.Run(pol.name, func(t *testing.T) {
			b := embeddedPolicy(t)
			if pol.rego != "" {
				b = policyBundle(t, pol.rego)
			}
			p := diffPipeline(t, b)
			rp := p.direct.policy.Load()
			if rp.err != nil || rp.reads.memo != pol.memo {
				t.Fatalf("memo %v (%s), want %v; prepare: %v", rp.reads.memo, rp.reads.why, pol.memo, rp.err)
			}
			for i := range perPolicy {
				rec := randomRecord(rng, i)
				o := compareRecord(t, p, rec)
				records++
				switch {
				case o.err == nil:
					written++
				case errors.Is(o.err, errNotLogged):
					notWritten++
				default:
					failed++
				}
			}
			if pol.memo && len(rp.memo.items) == 0 {
				t.Errorf("the memo is empty after %d records", perPolicy)
			}
		})
	}
	t.Logf("%d policies, %d records: %d written, %d dropped or not masked, %d not encodable", len(policies), records, written, notWritten, failed)
	if records != len(policies)*perPolicy || written == 0 || notWritten == 0 {
		t.Fatalf("%d records (want %d), %d written, %d not: both outcomes must be reached", records, len(policies)*perPolicy, written, notWritten)
	}
}

// TestTheDirectPathIsUsed: the console and file sinks write through the
// direct path, the service sink through OPA's plugin.
func TestTheDirectPathIsUsed(t *testing.T) {
	for _, tc := range []struct {
		sink       string
		wantDirect bool
	}{{"console", true}, {"file", true}, {"service", false}} {
		a := config.Audit{Sink: tc.sink, Path: t.TempDir() + "/audit.jsonl"}
		if tc.sink == "service" {
			a.Service.URL = downURL(t)
		}
		p := newPipeline(t, a, nil)
		if (p.direct != nil) != tc.wantDirect {
			t.Errorf("%s: direct path %v, want %v", tc.sink, p.direct != nil, tc.wantDirect)
		}
	}
}

// oddStrings are strings that JSON encoding and mask paths treat apart.
var oddStrings = []string{
	"", "a b", "a%20b", "a%2520b", "x/y", "~0~1", "%", "%zz", "é", "日本", "\u2028", "\u2029", "<&>",
	"\x00", "\x1f", "\x7f", "\b\f\n\r\t", "\"quoted\\", "\xff", "\xc3", "a\xe2\x80", "\U0001F600", "\ufffd",
	"email", "sub", "iss", "groups", "drop_me", "e-mail", "nested", "list", "0", "-1",
}

func randomString(rng *rand.Rand) string {
	if rng.IntN(3) > 0 {
		return oddStrings[rng.IntN(len(oddStrings))]
	}
	b := make([]byte, rng.IntN(12))
	for i := range b {
		switch rng.IntN(4) {
		case 0:
			b[i] = byte(rng.IntN(0x20))
		case 1:
			b[i] = byte(0x80 + rng.IntN(0x80))
		default:
			b[i] = byte(0x20 + rng.IntN(0x5f))
		}
	}
	return string(b)
}

var numbers = []string{"0", "-1", "1.5", "1e3", "1E-7", "123456789012345678901234567890", "-0.0", "2.5e+300", "01", "1.", "abc", ""}

func randomValue(rng *rand.Rand, depth int) any {
	n := 7
	if depth > 2 {
		n = 5
	}
	switch rng.IntN(n) {
	case 0:
		return nil
	case 1:
		return rng.IntN(2) == 0
	case 2:
		return json.Number(numbers[rng.IntN(len(numbers))])
	case 3:
		return rng.Float64() * 1e6
	case 4:
		return randomString(rng)
	case 5:
		a := make([]any, rng.IntN(4))
		for i := range a {
			a[i] = randomValue(rng, depth+1)
		}
		return a
	default:
		m := map[string]any{}
		for range rng.IntN(4) {
			m[randomString(rng)] = randomValue(rng, depth+1)
		}
		return m
	}
}

// claimPool makes claims repeat across records, so that the memo is hit
// by records that differ elsewhere.
var claimPool = func() []map[string]any {
	rng := rand.New(rand.NewPCG(1, 2))
	pool := []map[string]any{nil, {}, {"sub": "alice", "iss": "https://login.example.com/", "groups": []any{"vision"}},
		{"sub": "alice", "email": "alice@example.com", "a b": "x", "a%20b": "y", "x/y": 1.0},
		// The same leaf at two depths: a rule that reads below pii must
		// tell these apart.
		{"sub": "carol", "pii": "secret", "phone": "+1 555 0100"},
		{"sub": "carol", "pii": map[string]any{"flag": "secret"}, "phone": "+1 555 0100"}}
	for range 12 {
		m := map[string]any{"sub": randomString(rng)}
		for range rng.IntN(6) {
			m[randomString(rng)] = randomValue(rng, 0)
		}
		if rng.IntN(4) == 0 {
			m["nested"] = map[string]any{"deep": []any{"a", "b"}}
			m["list"] = []any{1.0, "two", map[string]any{"three": nil}}
		}
		if rng.IntN(5) == 0 {
			m["drop_me"] = true
		}
		pool = append(pool, m)
	}
	return pool
}()

func pick[T any](rng *rand.Rand, xs ...T) T { return xs[rng.IntN(len(xs))] }

// randomRecord is a record with random subjects, claims, results, errors
// and custom fields.
func randomRecord(rng *rand.Rand, i int) *Record {
	r := &Record{
		DecisionID: fmt.Sprintf("d-%d-%s", i, pick(rng, "", "7", randomString(rng))),
		Revision:   pick(rng, "", "sha256:3f1c", "drop", randomString(rng)),
		Timestamp: pick(rng, testNow, testNow.Add(time.Duration(rng.Int64N(1e15))),
			time.Date(1999, 1, 2, 3, 4, 5, 600, time.FixedZone("x", -5*3600)), testNow.In(time.FixedZone("y", 5*3600+1800))),
		RequestID: pick(rng, "req-1", randomString(rng)),
		Endpoint:  pick(rng, "/v1/sign", "/v1/decide", "/v1/batch"),
		Status:    pick(rng, 200, 403, 400, 503),
		EvalTime:  time.Duration(rng.IntN(3)) * time.Duration(rng.IntN(100000)),
		SignTime:  time.Duration(rng.IntN(3)) * time.Duration(rng.IntN(100000)),
	}
	if rng.IntN(8) > 0 {
		claims := claimPool[rng.IntN(len(claimPool))]
		r.Input = &authz.Input{
			Subject: authz.Subject{
				ID: pick(rng, "alice", "bob", randomString(rng)), Principal: pick(rng, "jwt:x#alice", randomString(rng)),
				Teams:      pick(rng, []string{}, []string{"vision"}, []string{"vision", "nlp", randomString(rng)}),
				AuthMethod: pick(rng, "jwt", "api_key"), Claims: claims,
			},
			Action: authz.Action{Team: pick(rng, "vision", "drop", randomString(rng)), Operation: pick(rng, "read", "write", "delete"),
				Object: pick(rng, "runs/42/model.pt", randomString(rng)), ExpiresIn: int64(rng.IntN(3) * 900),
				ContentType: pick(rng, "", "image/png"), Size: int64(rng.IntN(2)) << 33, Form: rng.IntN(2) == 0},
			Source: authz.Source{IP: pick(rng, "10.0.3.7", "192.0.2.1", randomString(rng)), UserAgent: pick(rng, "curl/8.5.0", randomString(rng))},
			Time:   testNow.Format(time.RFC3339),
		}
	}
	if rng.IntN(6) > 0 {
		d := &authz.Decision{Allow: rng.IntN(2) == 0, Reasons: pick(rng, []string{}, []string{"not_a_member"}, []string{"a", randomString(rng)})}
		if d.Allow {
			d.Connector, d.Key, d.Operation, d.TTL = "vision-s3", pick(rng, "vision/x", randomString(rng)), "read", time.Duration(rng.IntN(7200))*time.Second
		}
		if rng.IntN(3) == 0 {
			d.Constraints = authz.Constraints{
				IPRange: pick(rng, netip.Prefix{}, netip.MustParsePrefix("10.0.0.0/8")), MaxBytes: int64(rng.IntN(2) * 1024),
				ContentType: pick(rng, "", "image/"), Advisory: pick(rng, []string(nil), []string{"geo", "watermark"}),
			}
			if rng.IntN(2) == 0 {
				v, _ := json.Marshal(randomValue(rng, 1))
				d.Constraints.Unknown = []authz.Unknown{{Name: "geo", Value: v}}
			}
		}
		r.Result = d
	}
	if rng.IntN(3) == 0 {
		r.Error = pick(rng, "denied", "bad_request", randomString(rng))
	}
	if rng.IntN(2) == 0 {
		r.Provider, r.Bucket = "s3", pick(rng, "acme-vision", randomString(rng))
		r.ExpiresAt = r.Timestamp.Add(time.Hour)
		r.ExpiryClampedBy = pick(rng, "", "policy")
	}
	return r
}

// fuzzPolicies are the policies the fuzz target checks each input with:
// the shipped mask, one with every composable rule, and one that reads
// input whole, so that the memo falls back.
func fuzzPolicies(t testing.TB) []*Pipeline {
	all := strings.Join(maskSnippets, "\n") + "\n" + strings.Join(dropSnippets, "\n") + helperSnippets + dropHelpers
	i := slices.IndexFunc(fixedPolicies, func(f diffPolicy) bool { return f.name == "mask iterating input" })
	return []*Pipeline{
		diffPipeline(t, embeddedPolicy(&testing.T{})),
		diffPipeline(t, policyBundle(t, all)),
		diffPipeline(t, policyBundle(t, fixedPolicies[i].rego)),
	}
}

func FuzzRecordMatchesOPAPlugin(f *testing.F) {
	f.Add(uint64(1), "email", "alice@example.com", "alice")
	f.Add(uint64(2), "a b", "\xff\xfe", "\u2028")
	f.Add(uint64(3), "x/y", "<&>\"\\", "\x00\x1f")
	f.Add(uint64(4), "%zz", "日本", "")
	f.Add(uint64(5), "drop_me", "true", "e")
	pipelines := fuzzPolicies(f)
	f.Fuzz(func(t *testing.T, seed uint64, key, value, id string) {
		rng := rand.New(rand.NewPCG(seed, seed>>1))
		rec := randomRecord(rng, int(seed%1000))
		if rec.Input != nil {
			claims := map[string]any{key: value, "sub": id}
			for k, v := range rec.Input.Subject.Claims {
				claims[k] = v
			}
			rec.Input.Subject.Claims = claims
			rec.Input.Subject.ID = id
		}
		rec.DecisionID += id
		for _, p := range pipelines {
			compareRecord(t, p, rec)
		}
	})
}

// TestTheShippedMaskIsMemoisedOnTheClaims: the shipped mask reads only the
// caller's claims, so records that differ elsewhere share a memo entry,
// and a new revision starts with an empty memo.
func TestTheShippedMaskIsMemoisedOnTheClaims(t *testing.T) {
	p := newPipeline(t, config.Audit{Sink: "console", InstanceID: "replica-1"}, nil)
	rp := p.direct.policy.Load()
	claims := ast.Ref{ast.StringTerm("input"), ast.StringTerm("subject"), ast.StringTerm("claims")}
	if !rp.reads.memo || len(rp.reads.paths) != 1 || !rp.reads.paths[0].Equal(claims) {
		t.Fatalf("memo %v (%s), reads %v; want the claims only", rp.reads.memo, rp.reads.why, rp.reads.paths)
	}
	apiKey := func(id, object string) *Record {
		r := record(id)
		r.Input.Subject.AuthMethod, r.Input.Subject.Claims = "api_key", nil
		r.Input.Action.Object = object
		return r
	}
	jwt := func(id, object string) *Record {
		r := record(id)
		r.Input.Action.Object = object
		return r
	}
	for _, tc := range []struct {
		rec         *Record
		wantEntries int
	}{
		{apiKey("d-1", "a"), 1},
		{apiKey("d-2", "b"), 1},
		{jwt("d-3", "a"), 2},
		{jwt("d-4", "c"), 2},
		{apiKey("d-5", "c"), 2},
	} {
		compareRecord(t, p, tc.rec)
		if n := len(rp.memo.items); n != tc.wantEntries {
			t.Errorf("%s: %d memo entries, want %d", tc.rec.DecisionID, n, tc.wantEntries)
		}
	}
	if err := p.UsePolicy(context.Background(), embeddedPolicy(t)); err != nil {
		t.Fatal(err)
	}
	if n := len(p.direct.policy.Load().memo.items); n != 0 {
		t.Errorf("a new revision starts with %d memo entries", n)
	}
}

// TestABatchEncodedByHelpersMatchesOPAInOrder: a large batch is encoded
// by several goroutines; its lines are OPA's lines for the same records,
// in the order of the batch, and each record's outcome is OPA's.
func TestABatchEncodedByHelpersMatchesOPAInOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	all := strings.Join(maskSnippets, "\n") + "\n" + strings.Join(dropSnippets, "\n") + helperSnippets + dropHelpers
	for _, b := range []*bundle.Bundle{embeddedPolicy(t), policyBundle(t, all)} {
		p := diffPipeline(t, b)
		p.direct.scratch = make([]recordScratch, 4) // four helpers, whatever GOMAXPROCS is
		var want []byte
		var wantErr []error
		batch := make([]*item, 203)
		for i := range batch {
			batch[i] = &item{rec: randomRecord(rng, i)}
			o := runPath(p, batch[i].rec, p.logRecordOPA)
			want, wantErr = append(want, o.line...), append(wantErr, o.err)
		}
		p.sink.buf.Reset()
		p.encodeBatch(context.Background(), batch)
		got := bytes.Clone(p.sink.buf.Bytes())
		p.sink.buf.Reset()
		for i, it := range batch {
			if !sameOutcome(outcome{err: wantErr[i]}, outcome{err: it.err}) {
				t.Fatalf("record %d: OPA's plugin %v, helpers %v", i, wantErr[i], it.err)
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("the batch's lines differ from OPA's:\nOPA's plugin:\n%s\nhelpers:\n%s", want, got)
		}
		if n := bytes.Count(got, []byte("\n")); n < 10 {
			t.Fatalf("only %d of %d records written", n, len(batch))
		}
	}
}
