package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signgate/signgate/policies"
)

// TestBlockAUserRunbook follows docs/runbook.md against a running signgate
// with a policy directory: the deny-list stops new URLs once the directory
// is reloaded, SIGHUP takes the API key away, and audit outstanding lists
// the URLs issued before.
func TestBlockAUserRunbook(t *testing.T) {
	dir := t.TempDir()
	policyDir := filepath.Join(dir, "policy")
	copyEmbeddedPolicy(t, policyDir)
	auditFile := filepath.Join(dir, "audit.jsonl")
	cfgFile := filepath.Join(dir, "signgate.yaml")
	others := otherExampleConnectors(t)
	writeConfig := func(keys ...string) {
		t.Helper()
		var b strings.Builder
		fmt.Fprintf(&b, "listen: 127.0.0.1:0\npolicy: {source: directory, directory: %q, watch_debounce: 50ms}\nauth:\n  api_keys:\n", policyDir)
		for _, k := range keys {
			sum := sha256.Sum256([]byte(k + "-key"))
			fmt.Fprintf(&b, "  - {sha256: %s, subject: %s, teams: [vision]}\n", hex.EncodeToString(sum[:]), k)
		}
		fmt.Fprintf(&b, `connectors:
  vision-s3: {provider: s3, bucket: acme-vision, region: us-east-1, endpoint: "http://127.0.0.1:9",
              credentials: {access_key_id_env: SERVE_TEST_AK, secret_access_key_env: SERVE_TEST_SK}}
%s
audit: {mode: strict, sink: file, path: %q}
`, others, auditFile)
		replaceFile(t, cfgFile, []byte(b.String()))
	}
	writeConfig("mallory", "bob")
	t.Setenv("SERVE_TEST_AK", "AKIDSERVETEST")
	t.Setenv("SERVE_TEST_SK", "serve-test-secret")
	srv := startServe(t, "--config", cfgFile)
	c := &http.Client{Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	sign := func(who string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+srv.addr+"/v1/sign", strings.NewReader(`{"team":"vision","operation":"write","object":"runs/1/ckpt.pt"}`))
		req.Header.Set("Authorization", "Bearer "+who+"-key")
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	status, issued := sign("mallory")
	if status != 200 {
		t.Fatalf("before the block: %d %v", status, issued)
	}

	// Step 1: the deny-list, live once the directory has been quiet for
	// watch_debounce.
	blockInData(t, policyDir, "mallory")
	granted := 1 // until the reload, mallory still gets URLs
	waitFor(t, "mallory's requests denied with subject_blocked", func() bool {
		status, body := sign("mallory")
		if status == 200 {
			granted++
		}
		return status == 403 && fmt.Sprint(body["reasons"]) == "[subject_blocked]"
	})
	if status, body := sign("bob"); status != 200 {
		t.Fatalf("bob is not blocked: %d %v", status, body)
	}

	// Step 2: the API key removed, by SIGHUP.
	writeConfig("bob")
	mark := srv.logs.mark()
	sighup(t)
	srv.logs.waitMsg(t, mark, "configuration reloaded", "configuration reloaded in part")
	if status, _ := sign("mallory"); status != 401 {
		t.Fatalf("after SIGHUP mallory's key answers %d, want 401", status)
	}

	// Step 4: the URLs already issued, still alive.
	out, code := runAudit(t, time.Now(), nil, "outstanding", "--audit-file", auditFile, "--subject", "mallory", "--format", "json")
	if code != 0 || lineCount(out) != granted || strings.Count(out, `"subject":"mallory"`) != granted || !strings.Contains(out, issued["decision_id"].(string)) {
		t.Fatalf("outstanding for mallory (exit %d), want the %d URLs issued, %v among them:\n%s", code, granted, issued["decision_id"], out)
	}
	// And the denials are on the record.
	out, _ = runAudit(t, time.Now(), nil, "query", "--audit-file", auditFile, "--subject", "mallory", "--denied", "--format", "csv")
	if !strings.Contains(out, "subject_blocked") {
		t.Fatalf("no subject_blocked denial of mallory in the records:\n%s", out)
	}
}

// copyEmbeddedPolicy writes the embedded policy and data, without tests,
// into dir: the policy directory an operator would start from.
func copyEmbeddedPolicy(t *testing.T, dir string) {
	t.Helper()
	err := fs.WalkDir(policies.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, "_test.rego") || !(strings.HasSuffix(path, ".rego") || strings.HasSuffix(path, ".json")) {
			return err
		}
		b, err := fs.ReadFile(policies.FS, path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(path)), 0o700); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, path), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// blockInData adds subject to data.signgate.blocked_subjects in the
// directory's data.json, replacing the file at once.
func blockInData(t *testing.T, dir, subject string) {
	t.Helper()
	path := filepath.Join(dir, "data.json")
	var data map[string]any
	if err := json.Unmarshal([]byte(mustRead(t, path)), &data); err != nil {
		t.Fatal(err)
	}
	sg := data["signgate"].(map[string]any)
	sg["blocked_subjects"] = append(sg["blocked_subjects"].([]any), subject)
	b, err := json.MarshalIndent(data, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, path, b)
}

func lineCount(s string) int { return strings.Count(s, "\n") }
