package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/bundles"
	"github.com/signgate/signgate/bundles/bundletest"
	"github.com/signgate/signgate/tests/eventually"
)

func writeKeys(t *testing.T, k *bundletest.Key) (priv, pub string) {
	t.Helper()
	dir := t.TempDir()
	priv, pub = filepath.Join(dir, "priv.pem"), filepath.Join(dir, "pub.pem")
	if err := os.WriteFile(priv, []byte(k.PrivatePEM(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, []byte(k.PublicPEM(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

func TestBundleBuildAndVerify(t *testing.T) {
	key, other := bundletest.NewKey(t, "ci"), bundletest.NewKey(t, "ci")
	priv, pub := writeKeys(t, key)
	_, otherPub := writeKeys(t, other)
	out := filepath.Join(t.TempDir(), "bundle.tar.gz")
	lax := t.TempDir()
	bundletest.WriteDir(t, lax, bundletest.Files{"authz.rego": "package signgate.authz\n\ndecision := {\"allow\": true, \"connector\": \"c\", \"key\": \"k\", \"operation\": \"read\", \"ttl_seconds\": 1}\n"}, "", nil)

	tests := []struct {
		name       string
		givenArgs  []string
		wantOK     bool
		wantOutput string
	}{
		{name: "builds the shipped policy, signed, without its tests",
			givenArgs: []string{"bundle", "build", "../../policies", "-o", out, "--revision", "2026-11-27.1", "--signing-key", priv, "--signing-alg", "ES256", "--signing-key-id", "ci"},
			wantOK:    true, wantOutput: "revision 2026-11-27.1, 3 modules, signed by key ci"},
		{name: "verifies it with the public key",
			givenArgs: []string{"bundle", "verify", out, "--verification-key", pub, "--signing-alg", "ES256", "--verification-key-id", "ci"},
			wantOK:    true, wantOutput: "signature OK (key ci), revision 2026-11-27.1"},
		{name: "refuses it with another key",
			givenArgs:  []string{"bundle", "verify", out, "--verification-key", otherPub, "--signing-alg", "ES256", "--verification-key-id", "ci"},
			wantOutput: "failed to verify JWT signature"},
		{name: "refuses it out of scope",
			givenArgs:  []string{"bundle", "verify", out, "--verification-key", pub, "--signing-alg", "ES256", "--verification-key-id", "ci", "--scope", "prod"},
			wantOutput: "scope mismatch"},
		{name: "refuses to build a policy signgate would refuse",
			givenArgs:  []string{"bundle", "build", lax, "-o", filepath.Join(t.TempDir(), "lax.tar.gz")},
			wantOutput: "unknown team"},
		{name: "needs a directory", givenArgs: []string{"bundle", "build"}, wantOutput: "want one policy directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tc.givenArgs, nil, &stdout, &stderr)
			if (err == nil) != tc.wantOK {
				t.Fatalf("err = %v, want ok %v\n%s%s", err, tc.wantOK, stdout.String(), stderr.String())
			}
			got := stdout.String()
			if err != nil {
				got = err.Error()
			}
			if !strings.Contains(got, tc.wantOutput) {
				t.Fatalf("output %q lacks %q", got, tc.wantOutput)
			}
		})
	}

	// What signgate build writes, signgate serves.
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	srv := bundletest.NewServer(t)
	srv.Serve(raw)
	e := authz.New()
	svc, err := bundles.NewService(e, []byte(`{"services": {"hub": {"url": "`+srv.URL+`"}}, "bundles": {"signgate": {"service": "hub", "resource": "`+srv.Path+`"}}}`),
		bundles.WithVerification(key.Verification(t, "")))
	if err != nil {
		t.Fatal(err)
	}
	svc.Start(context.Background())
	defer svc.Stop(context.Background())
	eventually.True(t, 15*time.Second, "the built bundle to be served", func() bool {
		st, _ := e.Status()
		return st.Revision == "2026-11-27.1" && st.SigningKeyID == "ci"
	})
}
