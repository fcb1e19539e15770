package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signgate/signgate/bundles/bundletest"
)

// TestBundleVerifyNamesTheKeyItUsedAndExitsByCause: the key id printed is
// the one OPA verified with, a failed verification exits 1 and a wrong
// command line 2.
func TestBundleVerifyNamesTheKeyItUsedAndExitsByCause(t *testing.T) {
	key, other := bundletest.NewKey(t, "ci-2026"), bundletest.NewKey(t, "ci-2026")
	priv, pub := writeKeys(t, key)
	_, otherPub := writeKeys(t, other)
	dir := t.TempDir()
	signed := filepath.Join(dir, "signed.tar.gz")
	unsigned := filepath.Join(dir, "unsigned.tar.gz")
	build := []string{"bundle", "build", "../../policies", "--revision", "r1"}
	for _, args := range [][]string{
		append(build, "-o", signed, "--signing-key", priv, "--signing-alg", "ES256", "--signing-key-id", "ci-2026"),
		append(build, "-o", unsigned),
	} {
		if err := run(context.Background(), args, nil, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
	}
	notAKey := filepath.Join(dir, "not-a-key.pem")
	if err := os.WriteFile(notAKey, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		givenArgs  []string
		wantExit   int
		wantOutput string
	}{
		{name: "names the key id of the signature when none is given", givenArgs: []string{signed, "--verification-key", pub, "--signing-alg", "ES256"}, wantExit: 0, wantOutput: "signature OK (key ci-2026), revision r1"},
		{name: "names the key id given", givenArgs: []string{signed, "--verification-key", pub, "--signing-alg", "ES256", "--verification-key-id", "ci-2026"}, wantExit: 0, wantOutput: "(key ci-2026)"},
		{name: "a signature by another key exits 1", givenArgs: []string{signed, "--verification-key", otherPub, "--signing-alg", "ES256"}, wantExit: 1, wantOutput: "failed to verify"},
		{name: "an unsigned bundle exits 1", givenArgs: []string{unsigned, "--verification-key", pub, "--signing-alg", "ES256"}, wantExit: 1, wantOutput: "signatures.json"},
		{name: "a scope the signature lacks exits 1", givenArgs: []string{signed, "--verification-key", pub, "--signing-alg", "ES256", "--scope", "prod"}, wantExit: 1, wantOutput: "scope"},
		{name: "a missing bundle file exits 1", givenArgs: []string{filepath.Join(dir, "none.tar.gz"), "--verification-key", pub}, wantExit: 1, wantOutput: "no such file"},
		{name: "no key exits 2", givenArgs: []string{signed}, wantExit: 2, wantOutput: "--verification-key"},
		{name: "a key that cannot be read exits 2", givenArgs: []string{signed, "--verification-key", notAKey, "--signing-alg", "ES256"}, wantExit: 2, wantOutput: "--verification-key"},
		{name: "an unknown flag exits 2", givenArgs: []string{signed, "--verification-key", pub, "--nope"}, wantExit: 2, wantOutput: "nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := report(run(context.Background(), append([]string{"bundle", "verify"}, tc.givenArgs...), nil, &stdout, &stderr), &stderr)
			if code != tc.wantExit || !strings.Contains(stdout.String()+stderr.String(), tc.wantOutput) {
				t.Fatalf("exit %d, want %d; output lacks %q?\n%s%s", code, tc.wantExit, tc.wantOutput, stdout.String(), stderr.String())
			}
		})
	}
}

func TestBundleBuildChecksConnectorsAgainstTheConfiguration(t *testing.T) {
	dir := t.TempDir()
	cfg := func(connectors string) string {
		t.Helper()
		path := filepath.Join(dir, "signgate.yaml")
		body := "auth:\n  api_keys: [{sha256: \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\", subject: ops}]\nconnectors:\n" + connectors
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	all := `  vision-s3: {provider: s3, bucket: a, region: r}
  research-s3: {provider: s3, bucket: b, region: r}
  contractors-s3: {provider: s3, bucket: c, region: r}
  nlp-gcs: {provider: gcs, bucket: d, credentials: {service_account_file: /none.json}}
  web-azure: {provider: azure, container: e, credentials: {account_name: acct, account_key_env: NONE}}
`
	build := func(cfgPath string) (int, string) {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), []string{"bundle", "build", "../../policies", "-o", filepath.Join(dir, "b.tar.gz"), "--config", cfgPath}, nil, &stdout, &stderr)
		return report(err, &stderr), stdout.String() + stderr.String()
	}
	if code, out := build(cfg(all)); code != 0 {
		t.Fatalf("with every connector: exit %d\n%s", code, out)
	}
	code, out := build(cfg(strings.ReplaceAll(all, "  nlp-gcs: {provider: gcs, bucket: d, credentials: {service_account_file: /none.json}}\n", "")))
	if code != 1 || !strings.Contains(out, "nlp-gcs") || !strings.Contains(out, "nlp") {
		t.Fatalf("without nlp-gcs: exit %d\n%s", code, out)
	}
}
