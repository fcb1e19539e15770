package main

import (
	"bufio"
	"bytes"
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

	"github.com/signgate/signgate/bundles/bundletest"
	"github.com/signgate/signgate/tests/eventually"
)

// syncBuffer is a bytes.Buffer that serve's logger and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// listenAddr finds the address in serve's "signgate listening" log line.
func (s *syncBuffer) listenAddr() string {
	sc := bufio.NewScanner(strings.NewReader(s.String()))
	for sc.Scan() {
		var line struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "signgate listening" {
			return line.Addr
		}
	}
	return ""
}

// TestServeFollowsABundleService starts `signgate serve` on a bundle
// service that has nothing yet. With require_bundle it stays not ready and
// the embedded policy never serves; without, the embedded policy serves
// until the first bundle, if the configuration has the connectors its
// example data names, and is otherwise refused. Every time the first
// signed bundle takes over.
func TestServeFollowsABundleService(t *testing.T) {
	for _, tc := range []struct {
		require, examples bool
	}{{true, false}, {false, true}, {false, false}} {
		require := tc.require
		t.Run(fmt.Sprintf("require_bundle %v, example connectors %v", require, tc.examples), func(t *testing.T) {
			key := bundletest.NewKey(t, "ci")
			_, pub := writeKeys(t, key)
			srv := bundletest.NewServer(t)
			examples := ""
			if tc.examples {
				for _, c := range []string{"vision-s3", "research-s3", "contractors-s3"} {
					examples += fmt.Sprintf("  %s: {provider: s3, bucket: acme-%s, region: us-east-1, endpoint: \"http://127.0.0.1:7070\",\n"+
						"       credentials: {access_key_id_env: TEST_S3_ID, secret_access_key_env: TEST_S3_SECRET}}\n", c, c)
				}
				examples += exampleGCSAndAzure(t)
			}
			apiKey := "policy-test-key"
			sum := sha256.Sum256([]byte(apiKey))
			t.Setenv("TEST_S3_ID", "AKIDTEST")
			t.Setenv("TEST_S3_SECRET", "test-secret")
			cfg := fmt.Sprintf(`
listen: 127.0.0.1:0
policy:
  source: service
  require_bundle: %v
  opa_config:
    services: {hub: {url: %q}}
    bundles:
      signgate: {service: hub, resource: %q, polling: {min_delay_seconds: 1, max_delay_seconds: 1, long_polling_timeout_seconds: 10}}
  verification:
    keys: {ci: {algorithm: ES256, key_file: %q}}
    key_id: ci
auth:
  api_keys: [{sha256: %q, subject: ops, teams: [vision]}]
connectors:
  c1: {provider: s3, bucket: acme-c1, region: us-east-1, endpoint: "http://127.0.0.1:7070",
       credentials: {access_key_id_env: TEST_S3_ID, secret_access_key_env: TEST_S3_SECRET}}
%s
audit: {sink: none}
`, require, srv.URL, srv.Path, pub, hex.EncodeToString(sum[:]), examples)
			path := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var stderr syncBuffer
			done := make(chan error, 1)
			go func() { done <- run(ctx, []string{"serve", "--config", path}, nil, io.Discard, &stderr) }()
			t.Cleanup(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("serve: %v\n%s", err, stderr.String())
				}
			})
			var addr string
			eventually.True(t, 15*time.Second, "serve to listen", func() bool { addr = stderr.listenAddr(); return addr != "" })

			get := func(path string) (int, map[string]any) {
				req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
				req.Header.Set("Authorization", "Bearer "+apiKey)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var body map[string]any
				_ = json.NewDecoder(resp.Body).Decode(&body)
				return resp.StatusCode, body
			}
			status, _ := get("/readyz")
			_, policy := get("/v1/policy")
			switch {
			case require && (status != 503 || policy["ready"] != false):
				t.Fatalf("require_bundle: readyz %d, policy %v before any bundle", status, policy)
			case !require && tc.examples && (status != 200 || policy["source"] != "embedded"):
				t.Fatalf("readyz %d, policy %v: the embedded policy should serve until a bundle comes", status, policy)
			case !require && !tc.examples:
				if log := stderr.String(); !strings.Contains(log, `"source":"embedded"`) || !strings.Contains(log, `team \"vision\" names connector \"vision-s3\"`) {
					t.Fatalf("no refusal of the embedded policy naming the team and connector in the log:\n%s", log)
				}
				if status != 503 || policy["ready"] != false {
					t.Fatalf("readyz %d, policy %v: an embedded policy naming connectors the configuration lacks must not serve", status, policy)
				}
			}

			srv.Serve(bundletest.Tarball(t, bundletest.Policy(60), "r1", key))
			eventually.True(t, 15*time.Second, "revision r1", func() bool { _, p := get("/v1/policy"); return p["revision"] == "r1" })
			if status, _ := get("/readyz"); status != 200 {
				t.Fatalf("readyz %d with r1 active", status)
			}
			_, policy = get("/v1/policy")
			if policy["signing_key_id"] != "ci" || policy["source"] != "service:"+srv.URL+srv.Path {
				t.Fatalf("policy %v", policy)
			}
		})
	}
}
