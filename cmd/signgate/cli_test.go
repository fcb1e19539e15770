package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	opaversion "github.com/open-policy-agent/opa/v1/version"

	"github.com/signgate/signgate/bundles/bundletest"
	"github.com/signgate/signgate/tests/eventually"
)

// TestExitStatusAndStreams runs the command line as main does and checks
// the exit status, what reaches stdout and that an error is printed once
// on stderr.
func TestExitStatusAndStreams(t *testing.T) {
	dir := t.TempDir()
	signing, other := bundletest.NewKey(t, "ci"), bundletest.NewKey(t, "ci")
	priv, _ := writeKeys(t, signing)
	_, otherPub := writeKeys(t, other)
	bundleFile := filepath.Join(dir, "bundle.tar.gz")
	if err := run(context.Background(), []string{"bundle", "build", "../../policies", "-o", bundleFile,
		"--signing-key", priv, "--signing-alg", "ES256", "--signing-key-id", "ci"}, nil, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	badConfig := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badConfig, []byte("lisen: 127.0.0.1:0\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		givenArgs  []string
		givenStdin string
		wantCode   int
		wantStdout string // a substring; "" means stdout stays empty
		wantStderr string // the whole of stderr
	}{
		{name: "prints help for --help", givenArgs: []string{"--help"}, wantCode: 0, wantStdout: "usage: signgate COMMAND"},
		{name: "prints help for -h", givenArgs: []string{"-h"}, wantCode: 0, wantStdout: "usage: signgate COMMAND"},
		{name: "prints help for help", givenArgs: []string{"help"}, wantCode: 0, wantStdout: "usage: signgate COMMAND"},
		{name: "prints a command's help for help COMMAND", givenArgs: []string{"help", "serve"}, wantCode: 0, wantStdout: "usage: signgate serve"},
		{name: "prints serve's help and flags", givenArgs: []string{"serve", "--help"}, wantCode: 0, wantStdout: "-log-level level"},
		{name: "prints serve's help for -h among other flags", givenArgs: []string{"serve", "--dev", "-h"}, wantCode: 0, wantStdout: "usage: signgate serve"},
		{name: "prints hash-key's help", givenArgs: []string{"hash-key", "-h"}, wantCode: 0, wantStdout: "echo -n KEY | signgate hash-key"},
		{name: "prints netpolicy's help", givenArgs: []string{"netpolicy", "--help"}, wantCode: 0, wantStdout: "-team string"},
		{name: "prints bundle's help", givenArgs: []string{"bundle", "--help"}, wantCode: 0, wantStdout: "signgate bundle verify"},
		{name: "prints bundle build's help", givenArgs: []string{"bundle", "build", "--help"}, wantCode: 0, wantStdout: "-signing-key string"},
		{name: "prints bundle verify's help", givenArgs: []string{"bundle", "verify", "-h"}, wantCode: 0, wantStdout: "-verification-key string"},
		{name: "prints version's help", givenArgs: []string{"version", "--help"}, wantCode: 0, wantStdout: "usage: signgate version"},
		{name: "prints the version", givenArgs: []string{"version"}, wantCode: 0, wantStdout: "opa: " + opaversion.Version},
		{name: "prints the version for --version", givenArgs: []string{"--version"}, wantCode: 0, wantStdout: "go: " + runtime.Version()},
		{name: "hashes a key from stdin", givenArgs: []string{"hash-key"}, givenStdin: "  my-key\n", wantCode: 0, wantStdout: sha256Hex("my-key")},

		{name: "refuses no command", givenArgs: nil, wantCode: 2,
			wantStderr: "signgate: missing command\nRun 'signgate --help' for usage.\n"},
		{name: "refuses an unknown command", givenArgs: []string{"sever"}, wantCode: 2,
			wantStderr: "signgate: unknown command \"sever\"\nRun 'signgate --help' for usage.\n"},
		{name: "refuses an unknown flag once", givenArgs: []string{"serve", "--bogus"}, wantCode: 2,
			wantStderr: "signgate: flag provided but not defined: -bogus\nRun 'signgate serve --help' for usage.\n"},
		{name: "refuses serve without a mode", givenArgs: []string{"serve"}, wantCode: 2,
			wantStderr: "signgate: serve needs exactly one of --dev and --config FILE\nRun 'signgate serve --help' for usage.\n"},
		{name: "refuses an unknown log level", givenArgs: []string{"serve", "--dev", "--log-level", "loud"}, wantCode: 2,
			wantStderr: "signgate: --log-level: want debug, info, warn, error, got \"loud\"\nRun 'signgate serve --help' for usage.\n"},
		{name: "refuses an unknown log format", givenArgs: []string{"serve", "--dev", "--log-format", "xml"}, wantCode: 2,
			wantStderr: "signgate: --log-format: want json or text, got \"xml\"\nRun 'signgate serve --help' for usage.\n"},
		{name: "refuses a stray argument to serve", givenArgs: []string{"serve", "--dev", "now"}, wantCode: 2,
			wantStderr: "signgate: serve: unexpected argument \"now\"\nRun 'signgate serve --help' for usage.\n"},
		{name: "refuses a key on hash-key's command line", givenArgs: []string{"hash-key", "my-key"}, wantCode: 2,
			wantStderr: "signgate: hash-key: unexpected argument \"my-key\"\nRun 'signgate hash-key --help' for usage.\n"},
		{name: "fails on an empty stdin for hash-key", givenArgs: []string{"hash-key"}, wantCode: 1,
			wantStderr: "signgate: hash-key: no key on stdin\n"},
		{name: "refuses bundle without a command", givenArgs: []string{"bundle"}, wantCode: 2,
			wantStderr: "signgate: bundle: missing command build or verify\nRun 'signgate bundle --help' for usage.\n"},
		{name: "refuses bundle verify without a key", givenArgs: []string{"bundle", "verify", bundleFile}, wantCode: 2,
			wantStderr: "signgate: bundle verify: want one bundle file and --verification-key\nRun 'signgate bundle verify --help' for usage.\n"},
		{name: "fails a bundle that does not verify with 1", givenArgs: []string{"bundle", "verify", bundleFile, "--verification-key", otherPub, "--signing-alg", "ES256", "--verification-key-id", "ci"}, wantCode: 1,
			wantStderr: "signgate: bundle verify: " + bundleFile + ": failed to verify JWT signature"},
		{name: "logs a configuration error once, in the chosen format", givenArgs: []string{"serve", "--config", badConfig, "--log-format", "text"}, wantCode: 1,
			wantStderr: `level=ERROR msg="signgate stopped" err="config: ` + badConfig + `:1: unknown field \"lisen\" (did you mean listen?)"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.givenArgs, strings.NewReader(tt.givenStdin), &stdout, &stderr)
			code := report(err, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit status %d, want %d (err %v)", code, tt.wantCode, err)
			}
			if tt.wantStdout == "" && stdout.Len() != 0 {
				t.Errorf("stdout: %q, want nothing", stdout.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout %q lacks %q", stdout.String(), tt.wantStdout)
			}
			got := stderr.String()
			if tt.wantCode == 1 && !strings.HasPrefix(got, "signgate: ") {
				// A failure logged by serve: one line, time first.
				if strings.Count(got, "\n") != 1 || !strings.Contains(got, tt.wantStderr) {
					t.Errorf("stderr:\n%s\nwant one line with\n%s", got, tt.wantStderr)
				}
				return
			}
			if tt.wantCode == 1 {
				// A failure's cause may add detail after the message.
				if !strings.HasPrefix(got, tt.wantStderr) || strings.Count(got, "signgate: ") != 1 {
					t.Errorf("stderr:\n%s\nwant it to start with, once:\n%s", got, tt.wantStderr)
				}
				return
			}
			if got != tt.wantStderr {
				t.Errorf("stderr:\n%s\nwant:\n%s", got, tt.wantStderr)
			}
		})
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestServeStdoutHoldsOnlyRecords runs serve with the console audit sink,
// at debug level and with a request that fails authentication: stdout
// must hold the decision records and nothing else, and stderr the log,
// with the log section of the file applied under the flags.
func TestServeStdoutHoldsOnlyRecords(t *testing.T) {
	dir := t.TempDir()
	const key = "stdout-test-key"
	cfg := fmt.Sprintf(`
listen: 127.0.0.1:0
auth:
  api_keys: [{sha256: %q, subject: alice, teams: [vision]}]
connectors:
  vision-s3: {provider: s3, bucket: acme-vision, region: us-east-1, endpoint: "http://127.0.0.1:9",
              credentials: {access_key_id_env: STDOUT_TEST_AK, secret_access_key_env: STDOUT_TEST_SK}}
%s
audit: {sink: console}
log: {level: debug, format: text}
`, sha256Hex(key), otherExampleConnectors(t))
	cfgFile := filepath.Join(dir, "signgate.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("STDOUT_TEST_AK", "AKIDSTDOUTTEST")
	t.Setenv("STDOUT_TEST_SK", "stdout-test-secret")

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		// --log-format wins over log.format; log.level applies.
		done <- run(ctx, []string{"serve", "--config", cfgFile, "--log-format", "json"}, nil, &stdout, &stderr)
	}()
	var api string
	eventually.True(t, 15*time.Second, "serve to listen", func() bool {
		select {
		case err := <-done:
			t.Fatalf("serve: %v\n%s", err, stderr.String())
		default:
		}
		api = stderr.listenAddr()
		return api != ""
	})

	requests := []struct {
		auth, body string
		wantStatus int
	}{
		{"Bearer " + key, `{"team":"vision","operation":"read","object":"runs/1"}`, 200},
		{"Bearer " + key, `{"team":"research","operation":"read","object":"runs/1"}`, 403},
		{"Bearer wrong-key", `{"team":"vision","operation":"read","object":"runs/1"}`, 401},
	}
	for _, r := range requests {
		req, _ := http.NewRequest("POST", "http://"+api+"/v1/sign", strings.NewReader(r.body))
		req.Header.Set("Authorization", r.auth)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != r.wantStatus {
			t.Fatalf("%s: status %d, want %d", r.body, resp.StatusCode, r.wantStatus)
		}
	}
	http.DefaultClient.CloseIdleConnections()
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return after the context ended")
	}

	out := strings.TrimSpace(stdout.String())
	lines := strings.Split(out, "\n")
	if len(lines) != 2 {
		t.Fatalf("stdout has %d lines, want the 2 decision records:\n%s", len(lines), out)
	}
	for _, line := range lines {
		var rec struct {
			DecisionID string         `json:"decision_id"`
			Result     map[string]any `json:"result"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.DecisionID == "" {
			t.Fatalf("stdout holds something other than a decision record: %q", line)
		}
	}

	var first map[string]any
	logText := stderr.String()
	firstLine, _, _ := strings.Cut(logText, "\n")
	if err := json.Unmarshal([]byte(firstLine), &first); err != nil {
		t.Fatalf("the log is not JSON, as --log-format json asks: %q", firstLine)
	}
	if first["msg"] != "signgate starting" || first["version"] == "" || first["go"] != runtime.Version() || first["opa"] != opaversion.Version {
		t.Fatalf("first log line: %v", first)
	}
	if !strings.Contains(logText, `"msg":"credential refused"`) || !strings.Contains(logText, `"reason":"api key: unknown key"`) {
		t.Fatalf("log.level: debug did not log why a credential was refused:\n%s", logText)
	}
	if strings.Contains(logText, "wrong-key") || strings.Contains(logText, key) {
		t.Fatal("the log holds a credential")
	}
}
