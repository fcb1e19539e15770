package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signgate/signgate/internal/devenv"
	"github.com/signgate/signgate/server/config"
)

// TestConfigNeverFallsBackToDevSecrets: a configuration file that names the
// dev connectors' secrets gets nothing from dev mode, even after dev mode
// ran in the same process; an unset variable is an error.
func TestConfigNeverFallsBackToDevSecrets(t *testing.T) {
	if _, err := newDevMode(devOptions{endpoints: devenv.DefaultEndpoints()}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		givenConn   string
		wantErrPart string
	}{
		{
			name: "an unset S3 key variable is an error",
			givenConn: `{provider: s3, bucket: acme-vision, region: us-east-1, endpoint: "http://127.0.0.1:7070",
              credentials: {access_key_id_env: SIGNGATE_DEV_S3_ACCESS_KEY_ID, secret_access_key_env: SIGNGATE_DEV_S3_SECRET_ACCESS_KEY}}`,
			wantErrPart: "environment variable SIGNGATE_DEV_S3_ACCESS_KEY_ID is not set",
		},
		{
			name: "an unset Azure key variable is an error",
			givenConn: `{provider: azure, container: acme-web, endpoint: "http://127.0.0.1:10000/devstoreaccount1",
              credentials: {account_name: devstoreaccount1, account_key_env: SIGNGATE_DEV_AZURE_KEY}}`,
			wantErrPart: "environment variable SIGNGATE_DEV_AZURE_KEY is not set",
		},
		{
			name: "dev mode's service account name is a missing file",
			givenConn: `{provider: gcs, bucket: acme-nlp, endpoint: "http://127.0.0.1:4443",
              credentials: {service_account_file: "dev:gcs-service-account"}}`,
			wantErrPart: "read secret file",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, name := range []string{devS3AccessKeyName, devS3SecretKeyName, devAzureKeyName} {
				t.Setenv(name, "") // Secret treats empty as unset; Setenv restores it after
				os.Unsetenv(name)
			}
			cfgFile := filepath.Join(t.TempDir(), "signgate.yaml")
			cfg := "listen: 127.0.0.1:0\nauth:\n  api_keys: [{sha256: " + strings.Repeat("ab", 32) + ", subject: alice, teams: [vision]}]\n" +
				"connectors:\n  only: " + tc.givenConn + "\n"
			if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := config.Load(cfgFile)
			if err != nil {
				t.Fatal(err)
			}
			signers, err := buildSigners(t.Context(), c, secret)
			if err == nil || !strings.Contains(err.Error(), tc.wantErrPart) {
				t.Fatalf("buildSigners: got %d signers and error %v; want an error with %q", len(signers), err, tc.wantErrPart)
			}
			// serve itself refuses to start, rather than sign with the dev secrets.
			err = run(t.Context(), []string{"serve", "--config", cfgFile}, nil, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.wantErrPart) {
				t.Fatalf("serve --config: %v; want an error with %q", err, tc.wantErrPart)
			}
		})
	}
}

func TestDevFlags(t *testing.T) {
	tests := []struct {
		name      string
		givenEnv  string
		givenArgs []string
		wantErr   string
	}{
		{name: "dev flags need --dev", givenArgs: []string{"--config", "x.yaml", "--dev-key", "0123456789abcdef"}, wantErr: "--dev-key only applies with --dev"},
		{name: "endpoint flags need --dev", givenArgs: []string{"--config", "x.yaml", "--dev-s3-endpoint", "http://127.0.0.1:1"}, wantErr: "--dev-s3-endpoint only applies with --dev"},
		{name: "a short dev key is refused", givenArgs: []string{"--dev", "--dev-key", "short"}, wantErr: "--dev-key: want at least 16 characters"},
		{name: "a short dev key from the environment is refused", givenEnv: "short", givenArgs: []string{"--dev"}, wantErr: "$SIGNGATE_DEV_KEY: want at least 16 characters"},
		{name: "an endpoint that is not a URL is refused", givenArgs: []string{"--dev", "--dev-gcs-endpoint", "127.0.0.1:4443"}, wantErr: "--dev-gcs-endpoint: want an http(s) URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(devKeyEnv, tc.givenEnv)
			err := run(t.Context(), append([]string{"serve"}, tc.givenArgs...), nil, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("serve %v: %v; want an error with %q", tc.givenArgs, err, tc.wantErr)
			}
		})
	}
}

func TestDevModeKeyAndEndpoints(t *testing.T) {
	const fixed = "dev-key-for-tests-0123"
	ep := devenv.EndpointsAt(17070, 14443, 20000)
	t.Run("a fixed key is the same across starts", func(t *testing.T) {
		t.Setenv(devKeyEnv, "")
		a, err := newDevMode(devOptions{endpoints: ep, key: fixed})
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv(devKeyEnv, fixed)
		b, err := newDevMode(devOptions{endpoints: ep})
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(fixed))
		for _, d := range []*devMode{a, b} {
			if d.keyFrom == "" || d.cfg.Auth.APIKeys[0].SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("key from %q, hash %s; want the hash of the fixed key", d.keyFrom, d.cfg.Auth.APIKeys[0].SHA256)
			}
		}
	})
	t.Run("without a fixed key each start has a fresh one", func(t *testing.T) {
		t.Setenv(devKeyEnv, "")
		a, errA := newDevMode(devOptions{endpoints: ep})
		b, errB := newDevMode(devOptions{endpoints: ep})
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		if a.keyFrom != "" || a.apiKey == b.apiKey || !strings.HasPrefix(a.apiKey, "sgdev_") {
			t.Errorf("keys %q and %q (from %q); want two fresh sgdev_ keys", a.apiKey, b.apiKey, a.keyFrom)
		}
	})
	t.Run("the connectors sign for the given endpoints", func(t *testing.T) {
		d, err := newDevMode(devOptions{endpoints: ep, key: fixed})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"vision-s3": ep.S3, "research-s3": ep.S3, "contractors-s3": ep.S3, "nlp-gcs": ep.GCS, "web-azure": ep.Azure}
		for name, endpoint := range want {
			if got := d.cfg.Connectors[name].Endpoint; got != endpoint {
				t.Errorf("connector %s: endpoint %q, want %q", name, got, endpoint)
			}
		}
		if len(d.cfg.Connectors) != len(want) {
			t.Errorf("%d connectors, want %d", len(d.cfg.Connectors), len(want))
		}
	})
}

// TestServeDevWithFixedKey starts `serve --dev` with a fixed key and other
// endpoints, signs with that key, and gets a URL on the given endpoint. The
// key is not echoed into the output.
func TestServeDevWithFixedKey(t *testing.T) {
	const fixed = "dev-key-for-tests-4567"
	t.Setenv(devKeyEnv, "")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	logR, logW := io.Pipe()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--dev", "--listen", "127.0.0.1:0", "--dev-key", fixed,
			"--dev-s3-endpoint", "http://127.0.0.1:17070"}, nil, io.Discard, io.MultiWriter(logW, &out))
		logW.Close()
	}()
	addr := waitListening(t, logR)

	body := `{"team":"vision","operation":"read","object":"runs/42/model.pt","expires_in":900}`
	for _, tc := range []struct {
		name       string
		givenKey   string
		wantStatus int
	}{
		{"the fixed key signs", fixed, http.StatusOK},
		{"another key is refused", fixed + "x", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+addr+"/v1/sign", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tc.givenKey)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got struct{ URL string }
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, b)
			}
			if tc.wantStatus == http.StatusOK {
				if err := json.Unmarshal(b, &got); err != nil || !strings.HasPrefix(got.URL, "http://127.0.0.1:17070/acme-vision/") {
					t.Fatalf("url %q (%v); want one on http://127.0.0.1:17070/acme-vision/", got.URL, err)
				}
			}
		})
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("serve --dev: %v", err)
	}
	if strings.Contains(out.String(), fixed) {
		t.Errorf("the fixed dev key is in serve's output:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "fixed by --dev-key") {
		t.Errorf("serve's output does not say the key is fixed:\n%s", out.String())
	}
}

// waitListening returns the address from serve's "signgate listening" line.
func waitListening(t *testing.T, log io.Reader) string {
	t.Helper()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(log)
		for sc.Scan() {
			var m struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &m) == nil && m.Msg == "signgate listening" {
				select {
				case found <- m.Addr:
				default:
				}
			}
		}
	}()
	select {
	case addr := <-found:
		return addr
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not log its address")
		return ""
	}
}
