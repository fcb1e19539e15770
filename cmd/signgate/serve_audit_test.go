package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestServeAuditsAndExposesMetrics runs `serve` as main does, with a
// strict file sink and metrics on an admin address, makes N decisions,
// cancels the context as SIGTERM does, and finds N records and a scrape
// that counted them.
func TestServeAuditsAndExposesMetrics(t *testing.T) {
	dir := t.TempDir()
	const key = "serve-test-key"
	sum := sha256.Sum256([]byte(key))
	auditFile := filepath.Join(dir, "audit.jsonl")
	cfg := fmt.Sprintf(`
listen: 127.0.0.1:0
auth:
  api_keys: [{sha256: %q, subject: alice, teams: [vision]}]
connectors:
  vision-s3: {provider: s3, bucket: acme-vision, region: us-east-1, endpoint: "http://127.0.0.1:9",
              credentials: {access_key_id_env: SERVE_TEST_AK, secret_access_key_env: SERVE_TEST_SK}}
  research-s3: {provider: s3, bucket: acme-research, region: us-east-1, endpoint: "http://127.0.0.1:9",
              credentials: {access_key_id_env: SERVE_TEST_AK, secret_access_key_env: SERVE_TEST_SK}}
  contractors-s3: {provider: s3, bucket: acme-contractors, region: us-east-1, endpoint: "http://127.0.0.1:9",
              credentials: {access_key_id_env: SERVE_TEST_AK, secret_access_key_env: SERVE_TEST_SK}}
%s
audit: {mode: strict, sink: file, path: %q}
metrics: {listen: "127.0.0.1:0"}
`, hex.EncodeToString(sum[:]), exampleGCSAndAzure(t), auditFile)
	cfgFile := filepath.Join(dir, "signgate.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SERVE_TEST_AK", "AKIDSERVETEST")
	t.Setenv("SERVE_TEST_SK", "serve-test-secret")

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	logR, logW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--config", cfgFile}, nil, io.Discard, logW)
		logW.Close()
	}()
	api, admin := listenAddrs(t, logR)

	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			body := fmt.Sprintf(`{"team":"vision","operation":"read","object":"runs/%d"}`, i)
			req, _ := http.NewRequest("POST", "http://"+api+"/v1/sign", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("status %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()

	if resp, err := http.Get("http://" + api + "/metrics"); err != nil {
		t.Error(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on the API listener: %d, want 404 with metrics.listen set", resp.StatusCode)
	}
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scrape, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`signgate_decisions_total{endpoint="/v1/sign",operation="read",provider="s3",result="allow"} 40`,
		`signgate_audit_records_written_total{sink="file"} 40`,
		`signgate_http_requests_total{route="/v1/sign",status="200"} 40`,
		`signgate_policy_revision_info{revision="sha256:`,
		"go_goroutines ",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(string(scrape), want) {
			t.Errorf("the scrape lacks %s", want)
		}
	}

	http.DefaultClient.CloseIdleConnections()
	stop() // what SIGTERM does
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return after the context ended")
	}
	raw, err := os.ReadFile(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(raw), "\n"); got != n {
		t.Fatalf("%d records, want %d", got, n)
	}
	for _, secret := range []string{key, "serve-test-secret", "X-Amz-Signature"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("a record holds %q", secret)
		}
	}
}

// listenAddrs reads serve's log until it names the API and admin
// addresses, then keeps draining it.
func listenAddrs(t *testing.T, log io.Reader) (api, admin string) {
	t.Helper()
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(log)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // the test has what it needs: drain
			}
		}
	}()
	deadline := time.After(10 * time.Second)
	for api == "" || admin == "" {
		select {
		case line := <-lines:
			var m struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &m) != nil {
				continue
			}
			switch m.Msg {
			case "signgate listening":
				api = m.Addr
			case "metrics listening":
				admin = m.Addr
			}
		case <-deadline:
			t.Fatalf("serve did not log its addresses (api %q, admin %q)", api, admin)
		}
	}
	return api, admin
}
