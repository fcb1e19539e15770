package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signgate/signgate/server/config"
)

func TestProbe(t *testing.T) {
	ready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			w.WriteHeader(http.StatusOK)
		case "/moved":
			http.Redirect(w, r, "/readyz", http.StatusFound)
		case "/hang":
			<-r.Context().Done()
		default:
			http.Error(w, `{"code":"not_ready"}`, http.StatusServiceUnavailable)
		}
	}))
	defer ready.Close()
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer tlsSrv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw})
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A port that was free a moment ago: nothing answers there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/readyz"
	ln.Close()

	tests := []struct {
		name       string
		givenArgs  []string
		wantStatus int
		wantStderr string // a substring; empty: stderr must be empty
		wantStdout string
	}{
		{"exits 0 when the URL answers 200", []string{ready.URL + "/readyz"}, 0, "", ""},
		{"exits 1 on a 503", []string{ready.URL + "/other"}, 1, "503 Service Unavailable", ""},
		{"does not follow a redirect", []string{ready.URL + "/moved"}, 1, "302 Found", ""},
		{"exits 1 when nothing listens", []string{closed}, 1, "connection refused", ""},
		{"exits 1 after --timeout", []string{"--timeout", "200ms", ready.URL + "/hang"}, 1, "Client.Timeout", ""},
		{"takes flags after the URL", []string{ready.URL + "/hang", "--timeout=200ms"}, 1, "Client.Timeout", ""},
		{"trusts the server certificate in --ca-file", []string{"--ca-file", caFile, tlsSrv.URL + "/readyz"}, 0, "", ""},
		{"refuses an unknown certificate by default", []string{tlsSrv.URL + "/readyz"}, 1, "certificate", ""},
		{"accepts any certificate only when asked", []string{"--insecure-skip-verify", tlsSrv.URL}, 0, "", ""},
		{"prints help on stdout with --help", []string{"--help"}, 0, "", "usage: signgate probe"},
		{"refuses an unknown flag", []string{"--retries", "3"}, 2, "flag provided but not defined", ""},
		{"refuses a URL without a scheme", []string{"127.0.0.1:8080/readyz"}, 2, "want an http:// or https:// URL", ""},
		{"refuses two URLs", []string{ready.URL, ready.URL}, 2, "unexpected argument", ""},
		{"names the command to ask for help on a usage error", []string{"ftp://x/"}, 2, "Run 'signgate probe --help'", ""},
		{"refuses a zero timeout", []string{"--timeout", "0s", ready.URL}, 2, "--timeout must be positive", ""},
		{"refuses TLS flags on http", []string{"--ca-file", caFile, ready.URL}, 2, "are for https://", ""},
		{"refuses a CA file without a certificate", []string{"--ca-file", notPEM, tlsSrv.URL}, 2, "no PEM certificate", ""},
		{"refuses a missing CA file", []string{"--ca-file", notPEM + ".missing", tlsSrv.URL}, 2, "no such file", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := report(probeCmd(context.Background(), tc.givenArgs, &stdout), &stderr)
			if got != tc.wantStatus {
				t.Fatalf("status %d, want %d; stderr: %s", got, tc.wantStatus, stderr.String())
			}
			if tc.wantStderr == "" && stderr.Len() > 0 {
				t.Errorf("stderr: %s", stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tc.wantStderr)
			}
			if !strings.Contains(stdout.String(), tc.wantStdout) || (tc.wantStdout == "" && stdout.Len() > 0) {
				t.Errorf("stdout %q, want %q", stdout.String(), tc.wantStdout)
			}
		})
	}
}

func TestProbeDefaultURLIsTheDefaultListenersReadiness(t *testing.T) {
	cfg, err := config.Parse([]byte(`
auth:
  api_keys: [{sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", subject: alice}]
connectors:
  c: {provider: s3, bucket: b, region: us-east-1}
`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "http://" + cfg.Listen + "/readyz"; probeDefaultURL != want {
		t.Fatalf("probe asks %s by default, want %s", probeDefaultURL, want)
	}
}
