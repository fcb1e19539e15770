package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const auditTestdata = "testdata/audit/audit.jsonl"

// runAudit runs `signgate audit ...` at the fixed time now.
func runAudit(t *testing.T, now time.Time, stdin io.Reader, args ...string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := auditCmdAt(args, stdin, &out, func() time.Time { return now })
	return out.String(), report(err, &errb)
}

// The console examples of docs/audit.md, run against testdata/audit: each
// command must print exactly the lines the page shows.
func TestAuditDocExamples(t *testing.T) {
	doc := mustRead(t, "../../docs/audit.md")
	ran := 0
	for block := range strings.SplitSeq(doc, "```console\n") {
		if ran == 0 && !strings.HasPrefix(block, "$ ") {
			ran = -1 // the text before the first block
		}
		body, _, ok := strings.Cut(block, "```")
		if !ok || !strings.HasPrefix(body, "$ signgate audit ") {
			continue
		}
		cmd, want, _ := strings.Cut(body, "\n")
		args := strings.Fields(strings.TrimPrefix(cmd, "$ signgate audit "))
		for i, a := range args {
			if a == "audit.jsonl" {
				args[i] = auditTestdata
			}
		}
		got, code := runAudit(t, time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC), nil, args...)
		if code != 0 || got != want {
			t.Errorf("%s: exit %d\n got: %s\nwant: %s", cmd, code, got, want)
		}
		ran++
	}
	if ran != 4 { // 5 examples, from -1
		t.Fatalf("ran %d examples of docs/audit.md, want 5", ran+1)
	}
}

func TestAuditQuery(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	rotated := filepath.Join(filepath.Dir(auditTestdata), "audit.jsonl.20261126T110000.000000000Z")
	tests := []struct {
		name      string
		givenArgs []string
		givenIn   string
		wantIDs   string // last digit of each decision id, in order
		wantExit  int
	}{
		{name: "reads the rotated file first and leaves out /v1/decide", givenArgs: []string{"--audit-file", auditTestdata}, wantIDs: "1235678"},
		{name: "reads only the files named", givenArgs: []string{rotated}, wantIDs: "123"},
		{name: "reads stdin", givenIn: mustRead(t, auditTestdata), wantIDs: "5678"},
		{name: "a compensating record replaces the earlier one", givenArgs: []string{"--audit-file", auditTestdata, "--subject", "bob"}, wantIDs: "5"},
		{name: "by subject", givenArgs: []string{"--audit-file", auditTestdata, "--subject", "alice"}, wantIDs: "17"},
		{name: "by team", givenArgs: []string{"--audit-file", auditTestdata, "--team", "vision"}, wantIDs: "1357"},
		{name: "by bucket, shared by two teams", givenArgs: []string{"--audit-file", auditTestdata, "--bucket", "acme-vision"}, wantIDs: "127"},
		{name: "by key prefix", givenArgs: []string{"--audit-file", auditTestdata, "--key-prefix", "media/"}, wantIDs: "2"},
		{name: "denied includes the 503 of a failed commit", givenArgs: []string{"--audit-file", auditTestdata, "--denied"}, wantIDs: "35"},
		{name: "allowed", givenArgs: []string{"--audit-file", auditTestdata, "--allowed"}, wantIDs: "12678"},
		{name: "since a duration back from now", givenArgs: []string{"--audit-file", auditTestdata, "--since", "4h"}, wantIDs: "78"},
		{name: "since and until as times", givenArgs: []string{"--audit-file", auditTestdata, "--since", "2026-11-26T09:30:00Z", "--until", "2026-11-26T12:00:00Z"}, wantIDs: "23"},
		{name: "by decision id", givenArgs: []string{"--audit-file", auditTestdata, "--decision-id", "11111111-0000-4000-8000-000000000006"}, wantIDs: "6"},
		{name: "by endpoint /v1/decide", givenArgs: []string{"--audit-file", auditTestdata, "--endpoint", "/v1/decide"}, wantIDs: "4"},
		{name: "refuses --allowed with --denied", givenArgs: []string{"--allowed", "--denied"}, wantExit: 2},
		{name: "refuses an unknown format", givenArgs: []string{"--format", "xml"}, wantExit: 2},
		{name: "refuses a time it cannot read", givenArgs: []string{"--since", "yesterday"}, wantExit: 2},
		{name: "fails on a line that is no record", givenIn: "{\"decision_id\":\"x\"}\nnot json\n", wantExit: 1},
		{name: "fails on a missing file", givenArgs: []string{"testdata/audit/missing.jsonl"}, wantExit: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, code := runAudit(t, now, strings.NewReader(tc.givenIn), append([]string{"query", "--format", "json"}, tc.givenArgs...)...)
			if code != tc.wantExit {
				t.Fatalf("exit %d, want %d: %s", code, tc.wantExit, out)
			}
			if code != 0 {
				return
			}
			if got := lastDigits(t, out); got != tc.wantIDs {
				t.Errorf("decisions %q, want %q:\n%s", got, tc.wantIDs, out)
			}
		})
	}
}

func TestAuditOutstanding(t *testing.T) {
	tests := []struct {
		name      string
		givenAt   string
		givenArgs []string
		wantIDs   string
	}{
		{name: "everything unexpired, soonest first", givenAt: "2026-11-26T09:45:00Z", wantIDs: "12687"},
		{name: "a URL expires at its expires_at", givenAt: "2026-11-26T10:00:00Z", wantIDs: "2687"},
		{name: "by bucket", givenAt: "2026-11-26T09:45:00Z", givenArgs: []string{"--bucket", "acme-vision"}, wantIDs: "127"},
		{name: "by subject", givenAt: "2026-11-26T08:00:00Z", givenArgs: []string{"--subject", "alice"}, wantIDs: "17"},
		{name: "never a URL whose commit failed, nor a /v1/decide", givenAt: "2026-11-26T08:00:00Z", givenArgs: []string{"--team", "vision"}, wantIDs: "17"},
		{name: "nothing once all expired", givenAt: "2026-11-29T00:00:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"outstanding", "--format", "json", "--audit-file", auditTestdata, "--at", tc.givenAt}, tc.givenArgs...)
			out, code := runAudit(t, time.Now(), nil, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, out)
			}
			if got := lastDigits(t, out); got != tc.wantIDs {
				t.Errorf("URLs %q, want %q:\n%s", got, tc.wantIDs, out)
			}
		})
	}
}

func lastDigits(t *testing.T, jsonLines string) string {
	t.Helper()
	var b strings.Builder
	for line := range strings.Lines(jsonLines) {
		var row auditRow
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("output line %q: %v", line, err)
		}
		b.WriteByte(row.DecisionID[len(row.DecisionID)-1])
	}
	return b.String()
}

// genRecords writes n decision records of one day of traffic against the
// example teams, from start on, deterministic for seed: reads, writes and
// deletes, allowed and denied, /v1/sign, /v1/sign/batch, /v1/uploads and
// /v1/decide, with a strict-mode compensating record now and then.
func genRecords(t testing.TB, w io.Writer, n int, start time.Time, seed uint64) {
	t.Helper()
	rnd := rand.New(rand.NewPCG(seed, 1))
	type team struct {
		name, connector, bucket, prefix string
		ops                             []string
	}
	teams := []team{
		{"vision", "vision-s3", "acme-vision", "vision/", []string{"read", "write", "delete"}},
		{"media", "vision-s3", "acme-vision", "media/", []string{"read", "write"}},
		{"research", "research-s3", "acme-research", "research/", []string{"read"}},
		{"nlp", "nlp-gcs", "acme-nlp", "nlp/", []string{"read", "write", "delete"}},
		{"web", "web-azure", "acme-web", "web/", []string{"read", "write", "delete"}},
	}
	endpoints := []string{"/v1/sign", "/v1/sign", "/v1/sign", "/v1/sign/batch", "/v1/uploads", "/v1/decide"}
	bw := bufio.NewWriterSize(w, 1<<20)
	step := 24 * time.Hour / time.Duration(n)
	for i := range n {
		tm := teams[rnd.IntN(len(teams))]
		op := []string{"read", "read", "read", "write", "delete"}[rnd.IntN(5)]
		subject := fmt.Sprintf("user-%03d", rnd.IntN(200))
		member := rnd.IntN(20) != 0
		memberOf := tm.name
		if !member {
			memberOf = teams[(rnd.IntN(len(teams)-1)+1+indexOf(teams, tm.name, func(t team) string { return t.name }))%len(teams)].name
		}
		endpoint := endpoints[rnd.IntN(len(endpoints))]
		if endpoint == "/v1/uploads" {
			op = "write"
		}
		ts := start.Add(time.Duration(i) * step)
		id := fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", seed, i>>16&0xffff, i>>4&0xfff, i&0xfff, rnd.Uint64()&0xffffffffffff)
		object := fmt.Sprintf("runs/%d/part-%05d.bin", rnd.IntN(1000), rnd.IntN(100000))
		allow := member && contains(tm.ops, op)
		ttl := map[string]int{"read": 3600, "write": 86400, "delete": 3600}[op]
		if tm.name == "media" {
			ttl = 3600
		}
		expiresIn := ""
		if rnd.IntN(4) == 0 {
			expiresIn = `,"expires_in":900`
			ttl = 900
		}
		input := fmt.Sprintf(`{"action":{%s"object":%q,"operation":%q,"team":%q},"source":{"ip":"10.0.%d.%d","user_agent":"sdk/1.0"},"subject":{"auth_method":"api_key","claims":{},"id":%q,"teams":[%q]},"time":%q}`,
			strings.TrimPrefix(expiresIn+",", ","), object, op, tm.name, rnd.IntN(256), rnd.IntN(256), subject, memberOf, ts.Format(time.RFC3339))
		var result, custom string
		status := 200
		if allow {
			result = fmt.Sprintf(`{"allow":true,"connector":%q,"key":%q,"operation":%q,"reasons":[],"ttl_seconds":%d}`, tm.connector, tm.prefix+object, op, ttl)
			if endpoint == "/v1/decide" {
				custom = fmt.Sprintf(`{"endpoint":%q,"request_id":"r-%d","status":200}`, endpoint, i)
			} else {
				custom = fmt.Sprintf(`{"bucket":%q,"endpoint":%q,"expires_at":%q,"provider":"s3","request_id":"r-%d","status":200}`,
					tm.bucket, endpoint, ts.Add(time.Duration(ttl)*time.Second).Format(time.RFC3339), i)
			}
		} else {
			var rs []string
			if !member {
				rs = append(rs, `"not_team_member"`)
			}
			if !contains(tm.ops, op) {
				rs = append(rs, `"operation_not_allowed"`)
			}
			reasons := strings.Join(rs, ",")
			result = fmt.Sprintf(`{"allow":false,"reasons":[%s]}`, reasons)
			if endpoint != "/v1/decide" {
				status = 403
			}
			custom = fmt.Sprintf(`{"endpoint":%q,"request_id":"r-%d","status":%d}`, endpoint, i, status)
		}
		rec := fmt.Sprintf(`{"labels":{"app":"signgate","id":"signgate-1","version":"1.22.3"},"decision_id":%q,"bundles":{"signgate":{"revision":"r1"}},"path":"signgate/authz/decision","input":%s,"result":%s,"timestamp":%q,"metrics":{"timer_rego_query_eval_ns":41234},"custom":%s}`+"\n",
			id, input, result, ts.Format(time.RFC3339Nano), custom)
		bw.WriteString(rec)
		if allow && rnd.IntN(1000) == 0 {
			fmt.Fprintf(bw, `{"labels":{"app":"signgate","id":"signgate-1","version":"1.22.3"},"decision_id":%q,"bundles":{"signgate":{"revision":"r1"}},"path":"signgate/authz/decision","input":%s,"result":%s,"timestamp":%q,"custom":{"endpoint":%q,"error":"audit_unavailable","request_id":"r-%d","status":503}}`+"\n",
				id, input, result, ts.Add(time.Second).Format(time.RFC3339Nano), endpoint, i)
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
}

func indexOf[T any](l []T, v string, key func(T) string) int {
	for i, x := range l {
		if key(x) == v {
			return i
		}
	}
	return -1
}

func contains(l []string, v string) bool {
	for _, x := range l {
		if x == v {
			return true
		}
	}
	return false
}

// TestAuditQueryGeneratedDay checks the query against what the generator
// wrote, on a day of records: every decision of the team's bucket, once.
func TestAuditQueryGeneratedDay(t *testing.T) {
	n := 20000
	if os.Getenv("SIGNGATE_AUDIT_RECORDS") == "1000000" {
		n = 1000000 // run once by hand to measure: see docs/audit.md
	}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	genRecords(t, f, n, day, 7)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// The expected answer, by decoding every record naively.
	want := map[string]bool{}
	cancelled := map[string]bool{}
	total := 0
	if err := readRecords([]string{path}, nil, nil, func(r *auditRecord) error {
		total++
		if r.compensates() {
			cancelled[r.DecisionID] = true
		} else if r.Custom.Bucket == "acme-vision" && r.Custom.Endpoint != "/v1/decide" && r.allowed() {
			want[r.DecisionID] = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for id := range cancelled {
		delete(want, id)
	}
	if len(cancelled) == 0 || len(want) == 0 {
		t.Fatalf("the generated day lacks compensating records (%d) or grants (%d)", len(cancelled), len(want))
	}
	start := time.Now()
	out, code := runAudit(t, time.Now(), nil, "query", "--audit-file", path, "--bucket", "acme-vision", "--allowed", "--format", "json")
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	got := 0
	for line := range strings.Lines(out) {
		var row auditRow
		if err := json.Unmarshal([]byte(line), &row); err != nil || !want[row.DecisionID] {
			t.Fatalf("unexpected row %q (%v)", line, err)
		}
		got++
	}
	if got != len(want) {
		t.Fatalf("%d rows, want %d", got, len(want))
	}
	t.Logf("audit query --bucket --allowed over %d records: %d rows in %v", total, got, took)
}
