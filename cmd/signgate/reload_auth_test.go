package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/signgate/signgate/server"
	"github.com/signgate/signgate/server/config"
)

// TestAuthApplier swaps API keys and OIDC settings under a live
// authenticator, and keeps the running ones when the new OIDC keys cannot
// be loaded.
func TestAuthApplier(t *testing.T) {
	dir := t.TempDir()
	jwksFile := filepath.Join(dir, "jwks.json")
	oldKey, newKey := ecKey(t), ecKey(t)
	writeJWKS(t, jwksFile, map[string]*ecdsa.PrivateKey{"old": oldKey})
	parse := func(apiKey, audience, jwks string) *config.Config {
		t.Helper()
		sum := sha256.Sum256([]byte(apiKey))
		c := &config.Config{
			Auth: config.Auth{
				APIKeys: []config.APIKey{{SHA256: hex.EncodeToString(sum[:]), Subject: apiKey}},
				OIDC:    &config.OIDC{Issuer: "https://idp.example.com/", Audience: audience, JWKSFile: jwks, Algorithms: []string{"ES256"}},
			},
			Connectors: map[string]config.Connector{"c": {Provider: "s3", Bucket: "b", Region: "r"}},
		}
		c.SetDefaults()
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	first, err := buildAuth(ctx, parse("key-1", "signgate", jwksFile), log)
	if err != nil {
		t.Fatal(err)
	}
	live := server.NewLiveAuthenticator(first)
	apply := authApplier(ctx, live, log).apply

	accepts := []struct {
		name  string
		token string
		want  [3]bool // before the reload, after it, after a failed one
	}{
		{"the old API key", "key-1", [3]bool{true, false, false}},
		{"the new API key", "key-2", [3]bool{false, true, true}},
		{"a token of the old key for the old audience", token(t, oldKey, "old", "signgate"), [3]bool{true, false, false}},
		{"a token of the new key for the new audience", token(t, newKey, "new", "signgate-v2"), [3]bool{false, true, true}},
		{"a token of the new key for the old audience", token(t, newKey, "new", "signgate"), [3]bool{false, false, false}},
	}
	check := func(stage int) {
		t.Helper()
		for _, a := range accepts {
			if _, ok := live.Authenticate(a.token); ok != a.want[stage] {
				t.Errorf("stage %d: %s accepted %v, want %v", stage, a.name, ok, a.want[stage])
			}
		}
	}
	check(0)
	writeJWKS(t, jwksFile, map[string]*ecdsa.PrivateKey{"new": newKey})
	if err := apply(parse("key-2", "signgate-v2", jwksFile)); err != nil {
		t.Fatal(err)
	}
	check(1)
	if err := apply(parse("key-3", "signgate-v3", filepath.Join(dir, "missing.json"))); err == nil {
		t.Fatal("a JWKS file that cannot be read was applied")
	}
	check(2)
}

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writeJWKS(t *testing.T, path string, keys map[string]*ecdsa.PrivateKey) {
	t.Helper()
	set := jwk.NewSet()
	for kid, k := range keys {
		pub, err := jwk.PublicKeyOf(k)
		if err != nil {
			t.Fatal(err)
		}
		if err := pub.Set(jwk.KeyIDKey, kid); err != nil {
			t.Fatal(err)
		}
		if err := set.AddKey(pub); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, path, b)
}

func token(t *testing.T, key *ecdsa.PrivateKey, kid, audience string) string {
	t.Helper()
	now := time.Now()
	payload, err := json.Marshal(map[string]any{
		"iss": "https://idp.example.com/", "aud": audience, "sub": "alice", "groups": []string{"vision"},
		"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, kid); err != nil {
		t.Fatal(err)
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.ES256(), key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}
