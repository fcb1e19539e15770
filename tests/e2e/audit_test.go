package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/signgate/signgate/tests/storage"
)

// decisionParam is the query parameter that carries a URL's decision id
// (signer.DecisionParam; spelled out here, as a client would).
const decisionParam = "x-signgate-decision"

// auditLog is what the suite saw signgate hand out, for the checks after
// it stopped: every decision id, and every signature value.
var auditLog = struct {
	mu         sync.Mutex
	decisions  map[string]bool
	signatures map[string]bool
}{decisions: map[string]bool{}, signatures: map[string]bool{}}

// noteAnswer records what one /v1/sign answer exposed.
func noteAnswer(a signAnswer) {
	auditLog.mu.Lock()
	defer auditLog.mu.Unlock()
	if id := a.signed.DecisionID; id != "" {
		auditLog.decisions[id] = true
	}
	if id := a.problem.DecisionID; id != "" {
		auditLog.decisions[id] = true
	}
	if a.signed.URL == "" {
		return
	}
	q, err := queryParams(a.signed.URL)
	if err != nil {
		return
	}
	for _, p := range []string{"X-Amz-Signature", "X-Goog-Signature", "sig"} {
		if v := q[p]; v != "" {
			auditLog.signatures[v] = true
		}
	}
}

// caseDecisionParam: the URL carries its decision id; where the provider
// signs the query (S3, GCS) it cannot be stripped or swapped; on Azure it
// is accepted but outside the SAS signature.
func caseDecisionParam(t *testing.T, p *provider) string {
	obj := object("joined.bin")
	seed(t, p, p.team, obj, []byte("joined"))
	r := mustSign(t, "alice", read(p, obj))
	q, err := queryParams(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	if q[decisionParam] != r.DecisionID {
		t.Fatalf("%s = %q, want the decision_id %s", decisionParam, q[decisionParam], r.DecisionID)
	}
	wantOK(t, "GET with the URL as signed, decision id included", use(t, r.Method, r.URL, r.Headers, nil))

	other := mustSign(t, "alice", read(p, obj)).DecisionID
	swapped, err := withParam(r.URL, decisionParam, other)
	if err != nil {
		t.Fatal(err)
	}
	stripped := withoutParam(r.URL, decisionParam)
	if p.name == "azure" {
		wantOK(t, "GET with the decision id of another decision (unsigned on Azure)", use(t, r.Method, swapped, r.Headers, nil))
		wantOK(t, "GET without the decision id (unsigned on Azure)", use(t, r.Method, stripped, r.Headers, nil))
		return "Azure SAS signs a fixed set of fields: the parameter is accepted and logged, not signed (checked: a stripped or swapped id is accepted)"
	}
	wantRefused(t, "GET with the decision id of another decision", use(t, r.Method, swapped, r.Headers, nil))
	wantRefused(t, "GET with the decision id stripped", use(t, r.Method, stripped, r.Headers, nil))
	return ""
}

// withoutParam removes one query parameter from rawURL.
func withoutParam(rawURL, name string) string {
	base, rawQuery, _ := strings.Cut(rawURL, "?")
	var kept []string
	for part := range strings.SplitSeq(rawQuery, "&") {
		if n, _, _ := strings.Cut(part, "="); n != name {
			kept = append(kept, part)
		}
	}
	return base + "?" + strings.Join(kept, "&")
}

// TestShutdownFlushesEveryRecord starts a signgate of its own with a
// best_effort file sink, makes N decisions, sends SIGTERM as soon as the
// last answer is in, and finds exactly N records in the file.
func TestShutdownFlushesEveryRecord(t *testing.T) {
	trackInputs()
	if suite.skip != "" {
		storage.SkipOrFail(t, suite.skip)
	}
	// In the suite's directory, so that the scan after the run covers this
	// signgate's records and log too.
	dir := suite.dir
	auditFile := filepath.Join(dir, "flush.jsonl")
	cfgFile := filepath.Join(dir, "signgate-flush.yaml")
	var base string
	argv := func(port int) []string {
		base = fmt.Sprintf("http://127.0.0.1:%d", port)
		if err := writeConfig(cfgFile, fmt.Sprintf("127.0.0.1:%d", port), suite.policyDir, suite.saFile, suite.servers, suite.keys,
			map[string]any{"sink": "file", "path": auditFile}); err != nil {
			t.Error(err)
		}
		return []string{suite.bin, "serve", "--config", cfgFile}
	}
	ready := func(ctx context.Context, _ int) error { return getOK(ctx, base+"/readyz") }
	sg, _, err := storage.StartServer(t.Context(), "signgate-flush", dir, suite.env, argv, ready)
	if err != nil {
		t.Fatal(err)
	}
	defer sg.Stop()

	const n = 300
	// A client of its own, whose connections it closes before SIGTERM: Go's
	// Shutdown gives a connection that never sent a request 5 s before it
	// counts as idle, which is the whole grace Stop gives.
	client := &http.Client{Transport: &http.Transport{}, Timeout: httpClient.Timeout}
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			subject, team := "alice", "vision"
			if i%3 == 0 {
				subject = "bob" // denied: a denial has its record too
			}
			body, _ := json.Marshal(signRequest{Team: team, Operation: "read", Object: fmt.Sprintf("flush/%d", i)})
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/v1/sign", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+suite.keys[subject])
			resp, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var got struct {
				DecisionID string `json:"decision_id"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || got.DecisionID == "" {
				t.Errorf("status %d, no decision_id (%v)", resp.StatusCode, err)
				return
			}
			ids <- got.DecisionID
		})
	}
	wg.Wait()
	close(ids)
	client.CloseIdleConnections()
	sg.Stop() // SIGTERM, then wait for the exit
	if err := sg.Wait(); err != nil {
		t.Fatalf("signgate did not exit cleanly on SIGTERM: %v\n%s", err, sg.Output())
	}

	records := map[string]int{}
	for _, line := range readLines(t, auditFile) {
		var rec struct {
			DecisionID string `json:"decision_id"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("record %q: %v", line, err)
		}
		records[rec.DecisionID]++
	}
	got := 0
	for id := range ids {
		got++
		if records[id] != 1 {
			t.Errorf("decision %s has %d records, want 1", id, records[id])
		}
	}
	if total := len(readLines(t, auditFile)); got != n || total != n {
		t.Errorf("%d answers and %d records after SIGTERM, want exactly %d of each", got, total, n)
	}
}

// checkRecordsAndLogs runs after signgate has stopped (its records are
// flushed): every decision the suite saw has its one record, and no record
// or log line of any signgate this suite ran holds a URL's signature or a
// test key. It returns what it found wrong.
func checkRecordsAndLogs(dir string, secrets map[string]string) []string {
	var problems []string
	auditLog.mu.Lock()
	defer auditLog.mu.Unlock()
	records, _ := filepath.Glob(filepath.Join(dir, "*.jsonl*"))
	logs, _ := filepath.Glob(filepath.Join(dir, "signgate*.log"))
	scanned := 0
	for _, f := range append(records, logs...) {
		b, err := os.ReadFile(f)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		scanned++
		for what, s := range secrets {
			if s != "" && bytes.Contains(b, []byte(s)) {
				problems = append(problems, fmt.Sprintf("%s holds %s", filepath.Base(f), what))
			}
		}
		for sig := range auditLog.signatures {
			if bytes.Contains(b, []byte(sig)) {
				problems = append(problems, fmt.Sprintf("%s holds the signature %s…", filepath.Base(f), sig[:8]))
			}
		}
	}
	if scanned == 0 {
		problems = append(problems, "no record or log file to scan")
	}
	perDecision := map[string]int{}
	for _, line := range readLinesOf(filepath.Join(dir, "audit.jsonl")) {
		var rec struct {
			DecisionID string `json:"decision_id"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil {
			perDecision[rec.DecisionID]++
		}
	}
	for id := range auditLog.decisions {
		if perDecision[id] != 1 {
			problems = append(problems, fmt.Sprintf("decision %s has %d records, want 1", id, perDecision[id]))
		}
	}
	fmt.Printf("e2e: scanned %d record and log files for %d URL signatures and %d test keys; %d decisions seen, each with one record\n",
		scanned, len(auditLog.signatures), len(secrets), len(auditLog.decisions))
	return problems
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	return readLinesOf(path)
}

func readLinesOf(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// testSecrets are the credentials of the run, none of which may appear in
// a record or a log line.
func testSecrets(sa *storage.ServiceAccount) map[string]string {
	secrets := map[string]string{
		"alice's API key":          suite.keys["alice"],
		"bob's API key":            suite.keys["bob"],
		"the S3 secret key":        s3SecretKey,
		"the Azurite account key":  storage.AzuriteKey,
		"an Authorization header":  "Bearer ",
		"a signature parameter":    "X-Amz-Signature=",
		"a GCS signature":          "X-Goog-Signature=",
		"a SAS signature":          "&sig=",
		"the service account key":  "",
		"a PEM private key header": "PRIVATE KEY",
	}
	var doc struct {
		PrivateKey string `json:"private_key"`
	}
	if json.Unmarshal(sa.JSON, &doc) == nil {
		// A line from the middle of the PEM body: no other text has it.
		if lines := strings.Split(doc.PrivateKey, "\n"); len(lines) > 10 {
			secrets["the service account key"] = lines[len(lines)/2]
		}
	}
	return secrets
}

// TestRecordScanFindsALeak is the scan's own control: a key in a record
// and a signature in a log line are found.
func TestRecordScanFindsALeak(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "audit.jsonl"), []byte(`{"decision_id":"x","note":"k3y-leaked"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "signgate.log"), []byte(`{"msg":"request","url":"https://b/k?X-Amz-Signature=abc"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	problems := strings.Join(checkRecordsAndLogs(dir, map[string]string{"a test key": "k3y-leaked", "a signature parameter": "X-Amz-Signature="}), "\n")
	for _, want := range []string{"audit.jsonl holds a test key", "signgate.log holds a signature parameter"} {
		if !strings.Contains(problems, want) {
			t.Errorf("the scan missed %q; it found:\n%s", want, problems)
		}
	}
}
