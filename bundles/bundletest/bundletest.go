// Package bundletest makes OPA bundles, signing keys and a bundle server
// for tests of the policy lifecycle. Bundles are built from raw files with
// OPA's bundle package, so that a test can sign a bundle that does not
// parse, or sign with the wrong key.
package bundletest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/util"
)

// Key is a bundle-signing key pair (ECDSA P-256, ES256).
type Key struct {
	ID   string
	priv *ecdsa.PrivateKey
}

// NewKey makes a fresh key named id.
func NewKey(t testing.TB, id string) *Key {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &Key{ID: id, priv: priv}
}

// PublicPEM is the verification key, as OPA's keys configuration takes it.
func (k *Key) PublicPEM(t testing.TB) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// PrivatePEM is the signing key.
func (k *Key) PrivatePEM(t testing.TB) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// Verification requires a signature by k, with scope (may be empty).
func (k *Key) Verification(t testing.TB, scope string) *bundle.VerificationConfig {
	t.Helper()
	keys := map[string]*bundle.KeyConfig{k.ID: {Key: k.PublicPEM(t), Algorithm: "ES256"}}
	return bundle.NewVerificationConfig(keys, k.ID, scope, nil)
}

// Files is a bundle's content: path (such as "authz.rego" or "data.json")
// to bytes. Paths are kept as given, broken Rego included.
type Files map[string]string

// Policy is a minimal signgate policy: it grants team "vision" on
// connector "c1" for data.ttl seconds and denies everyone else. Two
// revisions that differ in ttl are told apart by every decision.
func Policy(ttl int) Files {
	return Files{
		"authz.rego": `package signgate.authz

decision := {
	"allow": true,
	"reasons": [],
	"connector": "c1",
	"key": input.action.object,
	"operation": input.action.operation,
	"ttl_seconds": data.ttl,
} if {
	input.action.team == "vision"
} else := {"allow": false, "reasons": ["unknown_team"]}
`,
		"data.json": fmt.Sprintf(`{"ttl": %d}`, ttl),
	}
}

// Build makes a bundle of files with revision, signed by key unless key is
// nil, with scope as the signature's scope claim unless it is empty.
func Build(t testing.TB, files Files, revision string, key *Key, scope ...string) *bundle.Bundle {
	t.Helper()
	b := &bundle.Bundle{Data: map[string]any{}}
	b.Manifest.Revision = revision
	b.Manifest.Init()
	for _, p := range sortedPaths(files) {
		raw := []byte(files[p])
		if p == "data.json" {
			if err := util.Unmarshal(raw, &b.Data); err != nil {
				t.Fatalf("bundletest: data.json: %v", err)
			}
			continue
		}
		url := "/" + strings.TrimPrefix(p, "/")
		b.Modules = append(b.Modules, bundle.ModuleFile{URL: url, Path: url, Raw: raw})
	}
	if key != nil {
		claims := ""
		if len(scope) > 0 && scope[0] != "" {
			claims = filepath.Join(t.TempDir(), "claims.json")
			body, _ := json.Marshal(map[string]string{"scope": scope[0], "keyid": key.ID})
			if err := os.WriteFile(claims, body, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		sc := bundle.NewSigningConfig(key.PrivatePEM(t), "ES256", claims)
		if err := b.GenerateSignature(sc, key.ID, false); err != nil {
			t.Fatalf("bundletest: sign: %v", err)
		}
	}
	return b
}

// Tarball is Build written as a bundle archive (bundle.tar.gz).
func Tarball(t testing.TB, files Files, revision string, key *Key, scope ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := bundle.NewWriter(&buf).Write(*Build(t, files, revision, key, scope...)); err != nil {
		t.Fatalf("bundletest: write: %v", err)
	}
	return buf.Bytes()
}

// WriteDir makes dir hold Build's bundle as a bundle directory: its files,
// .manifest and, when signed, .signatures.json. Every file of a previous
// WriteDir that files lacks is removed. The signature is written last, so
// that with verification on, a half-written directory fails to verify
// rather than loading.
func WriteDir(t testing.TB, dir string, files Files, revision string, key *Key) {
	t.Helper()
	b := Build(t, files, revision, key)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if _, keep := files[e.Name()]; !keep && !e.IsDir() && e.Name() != ".signatures.json" && e.Name() != "data.json" {
			mustRemove(t, filepath.Join(dir, e.Name()))
		}
	}
	for _, p := range sortedPaths(files) {
		mustWrite(t, filepath.Join(dir, p), []byte(files[p]))
	}
	if _, ok := files["data.json"]; !ok {
		// The signature covers data.json whether or not there is data, as
		// in an archive.
		mustWrite(t, filepath.Join(dir, "data.json"), []byte("{}"))
	}
	manifest, err := json.Marshal(b.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(dir, ".manifest"), manifest)
	sig := filepath.Join(dir, ".signatures.json")
	if key == nil {
		mustRemove(t, sig)
		return
	}
	body, err := json.Marshal(b.Signatures)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, sig, body)
}

func sortedPaths(files Files) []string {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

func mustWrite(t testing.TB, path string, body []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustRemove(t testing.TB, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
}
