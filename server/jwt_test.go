package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/server/config"
)

const (
	testIssuer   = "https://idp.example.test"
	testAudience = "signgate"
	testLeeway   = 30 * time.Second
	testInterval = 30 * time.Second
)

var jwtEpoch = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// jwtKeyPairs are generated once per test binary: RSA key generation is
// the slow part of these tests.
type jwtKeyPairs struct {
	rsa     *rsa.PrivateKey // published as rsa-1, alg RS256
	rsaNext *rsa.PrivateKey // the rotated-in key, or an attacker's key
	ec      *ecdsa.PrivateKey
	ed      ed25519.PrivateKey
}

var testKeys = sync.OnceValue(func() jwtKeyPairs {
	r1, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	r2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return jwtKeyPairs{rsa: r1, rsaNext: r2, ec: ec, ed: ed}
})

// publicJWK makes the JWKS entry for a private key; alg "" leaves the
// JWK's own alg out.
func publicJWK(t *testing.T, priv any, kid, alg string) jwk.Key {
	t.Helper()
	pub, err := jwk.PublicKeyOf(priv)
	if err != nil {
		t.Fatal(err)
	}
	must(t, pub.Set(jwk.KeyIDKey, kid))
	must(t, pub.Set(jwk.KeyUsageKey, "sig"))
	if alg != "" {
		must(t, pub.Set(jwk.AlgorithmKey, alg))
	}
	return pub
}

// standardJWKS is what the fake IdP publishes unless a test says
// otherwise. The EC key carries no alg, to exercise "if the JWK has one".
func standardJWKS(t *testing.T) []jwk.Key {
	k := testKeys()
	return []jwk.Key{
		publicJWK(t, k.rsa, "rsa-1", "RS256"),
		publicJWK(t, k.ec, "ec-1", ""),
		publicJWK(t, k.ed, "ed-1", "EdDSA"),
	}
}

func jwksJSON(t *testing.T, keys ...jwk.Key) []byte {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		must(t, set.AddKey(k))
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeIdP serves a JWKS on 127.0.0.1 and counts fetches.
type fakeIdP struct {
	srv     *httptest.Server
	fetches atomic.Int32
	mu      sync.Mutex
	body    []byte
	status  int
}

func newFakeIdP(t *testing.T, keys ...jwk.Key) *fakeIdP {
	t.Helper()
	f := &fakeIdP{status: http.StatusOK}
	f.publish(t, keys...)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		f.fetches.Add(1)
		f.mu.Lock()
		defer f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		_, _ = w.Write(f.body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIdP) publish(t *testing.T, keys ...jwk.Key) {
	b := jwksJSON(t, keys...)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.body, f.status = b, http.StatusOK
}

func (f *fakeIdP) publishRaw(body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.body, f.status = body, http.StatusOK
}

func (f *fakeIdP) failWith(status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status = status
}

// testClock is a settable clock shared by tokens and the rate limit.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(jwtEpoch.UnixNano())
	return c
}

func (c *testClock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func testOIDC(jwksURL string) config.OIDC {
	return config.OIDC{
		Issuer:             testIssuer,
		Audience:           testAudience,
		JWKSURL:            jwksURL,
		Algorithms:         []string{"RS256", "ES256", "EdDSA"},
		Leeway:             config.Duration{Duration: testLeeway},
		SubjectClaim:       "sub",
		TeamsClaim:         "groups",
		RefreshMinInterval: config.Duration{Duration: testInterval},
	}
}

func newTestJWT(t *testing.T, cfg config.OIDC, clk *testClock, f *fakeIdP, opts ...JWTOption) *JWT {
	t.Helper()
	opts = append([]JWTOption{withJWTClock(clk.now)}, opts...)
	if f != nil {
		opts = append(opts, withJWTHTTPClient(f.srv.Client()))
	}
	j, err := NewJWT(context.Background(), cfg, opts...)
	if err != nil {
		t.Fatalf("NewJWT: %v", err)
	}
	return j
}

// absent removes a claim in claimsWith.
type absentClaim struct{}

var absent absentClaim

// claimsWith is a valid claim set at jwtEpoch, changed by over.
func claimsWith(over map[string]any) map[string]any {
	c := map[string]any{
		"iss":    testIssuer,
		"aud":    testAudience,
		"sub":    "alice",
		"iat":    jwtEpoch.Unix(),
		"exp":    jwtEpoch.Add(10 * time.Minute).Unix(),
		"groups": []string{"vision", "web"},
		"tenant": "acme",
	}
	for k, v := range over {
		if v == absent {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

// mint signs claims with key under alg, with kid in the protected header
// when non-empty.
func mint(t *testing.T, alg jwa.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.NewHeaders()
	must(t, hdr.Set(jws.TypeKey, "JWT"))
	if kid != "" {
		must(t, hdr.Set(jws.KeyIDKey, kid))
	}
	tok, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatalf("sign %s: %v", alg, err)
	}
	return string(tok)
}

// unsigned makes an alg "none" token; sig is appended as its third part.
func unsigned(t *testing.T, kid string, claims map[string]any, sig string) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.NewHeaders()
	must(t, hdr.Set(jws.KeyIDKey, kid))
	tok, err := jws.Sign(payload, jws.WithInsecureNoSignature(jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok) + sig
}

func rsaPublicDER(t *testing.T) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&testKeys().rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestJWTAccepts(t *testing.T) {
	k := testKeys()
	idp := newFakeIdP(t, standardJWKS(t)...)
	clk := newTestClock()
	def := newTestJWT(t, testOIDC(idp.srv.URL), clk, idp)
	customCfg := testOIDC(idp.srv.URL)
	customCfg.SubjectClaim, customCfg.TeamsClaim = "email", "roles"
	custom := newTestJWT(t, customCfg, clk, idp)

	tests := []struct {
		name      string
		givenAuth *JWT
		givenTok  string
		wantID    string
		wantTeams []string
	}{
		{
			name:      "accepts RS256 signed by a published key",
			givenTok:  mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(nil)),
			wantID:    "alice",
			wantTeams: []string{"vision", "web"},
		},
		{
			name:      "accepts ES256 from a key without its own alg",
			givenTok:  mint(t, jwa.ES256(), k.ec, "ec-1", claimsWith(nil)),
			wantID:    "alice",
			wantTeams: []string{"vision", "web"},
		},
		{
			name:      "accepts EdDSA",
			givenTok:  mint(t, jwa.EdDSA(), k.ed, "ed-1", claimsWith(nil)),
			wantID:    "alice",
			wantTeams: []string{"vision", "web"},
		},
		{
			name:      "reads teams from a space-separated string",
			givenTok:  mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(map[string]any{"groups": " nlp  research "})),
			wantID:    "alice",
			wantTeams: []string{"nlp", "research"},
		},
		{
			name:     "treats a missing teams claim as no teams",
			givenTok: mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(map[string]any{"groups": absent})),
			wantID:   "alice",
		},
		{
			name:     "treats a null teams claim as no teams",
			givenTok: mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(map[string]any{"groups": nil})),
			wantID:   "alice",
		},
		{
			name:      "accepts an audience list that contains signgate",
			givenTok:  mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(map[string]any{"aud": []string{"other", testAudience}})),
			wantID:    "alice",
			wantTeams: []string{"vision", "web"},
		},
		{
			name: "accepts a token expired within the leeway",
			givenTok: mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(map[string]any{
				"iat": jwtEpoch.Add(-time.Hour).Unix(), "exp": jwtEpoch.Add(-testLeeway + time.Second).Unix()})),
			wantID:    "alice",
			wantTeams: []string{"vision", "web"},
		},
		{
			name: "accepts a token not yet valid within the leeway",
			givenTok: mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(map[string]any{
				"nbf": jwtEpoch.Add(testLeeway - time.Second).Unix()})),
			wantID:    "alice",
			wantTeams: []string{"vision", "web"},
		},
		{
			name:      "reads subject and teams from custom claim names",
			givenAuth: custom,
			givenTok: mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(map[string]any{
				"sub": "00u1ab", "email": "alice@example.test", "roles": []string{"research"}})),
			wantID:    "alice@example.test",
			wantTeams: []string{"research"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.givenAuth
			if a == nil {
				a = def
			}
			p, ok := a.Authenticate(tt.givenTok)
			if !ok {
				t.Fatal("rejected a valid token")
			}
			if p.ID != tt.wantID || !slices.Equal(p.Teams, tt.wantTeams) || p.AuthMethod != "jwt" {
				t.Errorf("principal = %q %q %q, want %q %q jwt", p.ID, p.Teams, p.AuthMethod, tt.wantID, tt.wantTeams)
			}
			if p.Claims["tenant"] != "acme" || p.Claims["iss"] != testIssuer || p.Claims["exp"] == nil {
				t.Errorf("claims = %v, want every claim of the token", p.Claims)
			}
		})
	}
	if n := idp.fetches.Load(); n != 2 {
		t.Errorf("JWKS fetched %d times, want 2 (one per authenticator at start)", n)
	}
}

func TestJWTRejects(t *testing.T) {
	k := testKeys()
	// rsa-noalg and ed-noalg carry no JWK alg: only the allow-list stands
	// between rsa-noalg and a PS256 token, and only jwx's key type check
	// between ed-noalg and an RS256 one.
	idp := newFakeIdP(t, append(standardJWKS(t),
		publicJWK(t, k.rsa, "rsa-noalg", ""), publicJWK(t, k.ed, "ed-noalg", ""))...)
	clk := newTestClock()
	cfg := testOIDC(idp.srv.URL)
	cfg.Algorithms = []string{"RS256", "RS384", "ES256", "ES384", "EdDSA"}
	// What is logged of a refusal is checked through HTTP, in authlog_test.go.
	a := newTestJWT(t, cfg, clk, idp)

	good := mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(nil))
	if _, ok := a.Authenticate(good); !ok {
		t.Fatal("the baseline token is rejected; every case below would pass for the wrong reason")
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaPublicDER(t)})
	attackerJWK := publicJWK(t, k.rsaNext, "rsa-1", "RS256")
	embedded := func() string {
		payload, _ := json.Marshal(claimsWith(nil))
		hdr := jws.NewHeaders()
		must(t, hdr.Set(jws.KeyIDKey, "rsa-1"))
		must(t, hdr.Set(jws.JWKKey, attackerJWK))
		tok, err := jws.Sign(payload, jws.WithKey(jwa.RS256(), k.rsaNext, jws.WithProtectedHeaders(hdr)))
		must(t, err)
		return string(tok)
	}()

	// wantReason pins the check that stops each attack, so that no check
	// is covered only by another one standing in front of it.
	tests := []struct {
		name       string
		givenTok   string
		wantReason string
	}{
		{"rejects an unsigned alg none token", unsigned(t, "rsa-1", claimsWith(nil), ""), "not a jwt"},
		{"rejects alg none carrying a signature segment", unsigned(t, "rsa-1", claimsWith(nil), "c2lnbmF0dXJl"), "alg not allowed"},
		{"rejects HS256 keyed with the RSA public key as PEM", mint(t, jwa.HS256(), pemKey, "rsa-1", claimsWith(nil)), "alg not allowed"},
		{"rejects HS256 keyed with the RSA public key as DER", mint(t, jwa.HS256(), rsaPublicDER(t), "rsa-1", claimsWith(nil)), "alg not allowed"},
		{"rejects an asymmetric alg outside the configured list", mint(t, jwa.PS256(), k.rsa, "rsa-noalg", claimsWith(nil)), "alg not allowed"},
		{"rejects a header alg that differs from the key's JWK alg", mint(t, jwa.RS384(), k.rsa, "rsa-1", claimsWith(nil)), "key alg mismatch"},
		{"rejects RS256 on an EC key", mint(t, jwa.RS256(), k.rsa, "ec-1", claimsWith(nil)), "key does not fit alg"},
		{"rejects RS256 on an Ed25519 key", mint(t, jwa.RS256(), k.rsa, "ed-noalg", claimsWith(nil)), "bad signature"},
		{"rejects ES384 on a P-256 key", mint(t, jwa.ES384(), k.ec, "ec-1", claimsWith(nil)), "key does not fit alg"},
		{"rejects a token expired beyond the leeway", mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(map[string]any{
			"iat": jwtEpoch.Add(-time.Hour).Unix(), "exp": jwtEpoch.Add(-testLeeway - time.Second).Unix()})), "expired"},
		{"rejects a token not yet valid beyond the leeway", mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(map[string]any{
			"nbf": jwtEpoch.Add(testLeeway + time.Second).Unix()})), "not yet valid"},
		{"rejects a token issued in the future beyond the leeway", mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(map[string]any{
			"iat": jwtEpoch.Add(testLeeway + time.Minute).Unix()})), "issued in the future"},
		{"rejects a wrong issuer", mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(map[string]any{"iss": "https://evil.example.test"})), "wrong issuer"},
		{"rejects an issuer that only differs by a trailing slash", mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(map[string]any{"iss": testIssuer + "/"})), "wrong issuer"},
		{"rejects a wrong audience", mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(map[string]any{"aud": "someone-else"})), "wrong audience"},
		{"rejects a missing audience", mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(map[string]any{"aud": absent})), "wrong audience"},
		{"rejects a token without exp", mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(map[string]any{"exp": absent})), "required claim missing"},
		{"rejects an unknown kid", mint(t, jwa.RS256(), k.rsaNext, "rsa-unknown", claimsWith(nil)), "unknown kid"},
		{"rejects a token without kid when the JWKS has several keys", mint(t, jwa.RS256(), k.rsa, "", claimsWith(nil)), "unknown kid"},
		{"rejects a token signed by another key under a known kid", mint(t, jwa.RS256(), k.rsaNext, "rsa-1", claimsWith(nil)), "bad signature"},
		{"rejects a header jwk that embeds the attacker's key", embedded, "bad signature"},
		{"rejects a token with a tampered payload", tamper(t, good), "bad signature"},
		{"rejects a truncated token", good[:len(good)-12], "bad signature"},
		{"rejects a token without its signature segment", good[:strings.LastIndex(good, ".")], "not a jwt"},
		{"rejects garbage", "not a jwt at all", "not a jwt"},
		{"rejects three garbage segments", "aaaa.bbbb.cccc", "malformed"},
		{"rejects the empty string", "", "not a jwt"},
		{"rejects a token with surrounding whitespace", " " + good + " ", "not a jwt"},
		{"rejects an empty subject", mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(map[string]any{"sub": ""})), "subject claim missing"},
		{"rejects a missing subject", mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(map[string]any{"sub": absent})), "subject claim missing"},
		{"rejects a subject that is not a string", mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(map[string]any{"sub": 42})), "invalid"},
		{"rejects a teams list with a non-string entry", mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(map[string]any{"groups": []any{"vision", 7}})), "teams claim malformed"},
		{"rejects a teams claim that is an object", mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(map[string]any{"groups": map[string]any{"vision": true}})), "teams claim malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p, ok := a.Authenticate(tt.givenTok); ok || p.ID != "" {
				t.Fatalf("accepted: %+v", p)
			}
			if _, reason := a.verify(tt.givenTok); reason != tt.wantReason {
				t.Errorf("stopped by %q, want %q", reason, tt.wantReason)
			}
		})
	}
	if n := idp.fetches.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times, want 1: unknown kids within the interval must not refetch", n)
	}
}

// tamper changes the payload of a signed token and keeps its signature.
func tamper(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	must(t, err)
	raw = bytes.Replace(raw, []byte(`"alice"`), []byte(`"admin"`), 1)
	parts[1] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, ".")
}

func TestJWTRefetch(t *testing.T) {
	k := testKeys()

	t.Run("refetches at most once per interval for repeated unknown kids", func(t *testing.T) {
		idp := newFakeIdP(t, standardJWKS(t)...)
		clk := newTestClock()
		a := newTestJWT(t, testOIDC(idp.srv.URL), clk, idp)
		unknown := func(i int) string {
			return mint(t, jwa.RS256(), k.rsa, "made-up-"+string(rune('a'+i)), claimsWith(nil))
		}
		tokens := make([]string, 20)
		for i := range tokens {
			tokens[i] = unknown(i)
		}
		tests := []struct {
			name         string
			givenAdvance time.Duration
			wantFetches  int32
		}{
			{"no refetch within the interval after start", 0, 1},
			{"one refetch once the interval has passed", testInterval, 2},
			{"no further refetch within the new interval", testInterval - time.Second, 2},
			{"one more after the next interval", time.Second, 3},
		}
		for _, tt := range tests {
			clk.advance(tt.givenAdvance)
			var wg sync.WaitGroup
			for _, tok := range tokens {
				wg.Go(func() {
					if _, ok := a.Authenticate(tok); ok {
						t.Errorf("%s: accepted an unknown kid", tt.name)
					}
				})
			}
			wg.Wait()
			if n := idp.fetches.Load(); n != tt.wantFetches {
				t.Errorf("%s: fetches = %d, want %d", tt.name, n, tt.wantFetches)
			}
		}
	})

	t.Run("picks up a key rotated into the JWKS after a refetch", func(t *testing.T) {
		idp := newFakeIdP(t, standardJWKS(t)...)
		clk := newTestClock()
		a := newTestJWT(t, testOIDC(idp.srv.URL), clk, idp)
		idp.publish(t, publicJWK(t, k.rsaNext, "rsa-2", "RS256"))

		clk.advance(testInterval)
		rotated := mint(t, jwa.RS256(), k.rsaNext, "rsa-2", claimsWith(nil))
		if p, ok := a.Authenticate(rotated); !ok || p.ID != "alice" {
			t.Fatalf("token under the rotated key: ok=%v", ok)
		}
		if _, ok := a.Authenticate(mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(nil))); ok {
			t.Error("a key rotated out of the JWKS still verifies")
		}
		if n := idp.fetches.Load(); n != 2 {
			t.Errorf("fetches = %d, want 2", n)
		}
	})

	t.Run("waits out the interval before seeing a rotated key", func(t *testing.T) {
		idp := newFakeIdP(t, standardJWKS(t)...)
		clk := newTestClock()
		a := newTestJWT(t, testOIDC(idp.srv.URL), clk, idp)
		idp.publish(t, append(standardJWKS(t), publicJWK(t, k.rsaNext, "rsa-2", "RS256"))...)
		rotated := mint(t, jwa.RS256(), k.rsaNext, "rsa-2", claimsWith(nil))
		if _, ok := a.Authenticate(rotated); ok {
			t.Fatal("refetched within the interval")
		}
		clk.advance(testInterval)
		if _, ok := a.Authenticate(rotated); !ok {
			t.Fatal("rotated key not picked up after the interval")
		}
	})

	t.Run("keeps the previous keys when a refetch fails", func(t *testing.T) {
		idp := newFakeIdP(t, standardJWKS(t)...)
		clk := newTestClock()
		a := newTestJWT(t, testOIDC(idp.srv.URL), clk, idp)
		idp.failWith(http.StatusInternalServerError)
		clk.advance(testInterval)
		if _, ok := a.Authenticate(mint(t, jwa.RS256(), k.rsa, "rsa-9", claimsWith(nil))); ok {
			t.Fatal("accepted an unknown kid")
		}
		if _, ok := a.Authenticate(mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(nil))); !ok {
			t.Fatal("a failed refetch dropped the cached keys")
		}
		if n := idp.fetches.Load(); n != 2 {
			t.Errorf("fetches = %d, want 2", n)
		}
	})
}

func TestJWTFileJWKS(t *testing.T) {
	k := testKeys()
	dir := t.TempDir()
	write := func(name string, keys ...jwk.Key) string {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, jwksJSON(t, keys...), 0o600))
		return p
	}
	single := write("single.json", publicJWK(t, k.ec, "ec-1", "ES256"))
	several := write("several.json", standardJWKS(t)...)
	fileCfg := func(path string) config.OIDC {
		c := testOIDC("")
		c.JWKSFile = path
		return c
	}

	tests := []struct {
		name      string
		givenFile string
		givenTok  string
		wantOK    bool
	}{
		{"accepts a token whose kid is in the file", several, mint(t, jwa.EdDSA(), k.ed, "ed-1", claimsWith(nil)), true},
		{"accepts a token without kid when the file holds one key", single, mint(t, jwa.ES256(), k.ec, "", claimsWith(nil)), true},
		{"rejects a token without kid when the file holds several keys", several, mint(t, jwa.ES256(), k.ec, "", claimsWith(nil)), false},
		{"rejects an unknown kid without trying to refetch", single, mint(t, jwa.ES256(), k.ec, "ec-2", claimsWith(nil)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestJWT(t, fileCfg(tt.givenFile), newTestClock(), nil)
			if _, ok := a.Authenticate(tt.givenTok); ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
		})
	}
}

func TestNewJWTRefuses(t *testing.T) {
	k := testKeys()
	idp := newFakeIdP(t, standardJWKS(t)...)
	empty := newFakeIdP(t)
	broken := newFakeIdP(t, standardJWKS(t)...)
	broken.failWith(http.StatusServiceUnavailable)
	oct, err := jwk.Import([]byte("a shared secret that is not a signing key"))
	must(t, err)
	must(t, oct.Set(jwk.KeyIDKey, "hmac"))
	symmetric := newFakeIdP(t, oct)
	dup := newFakeIdP(t, publicJWK(t, k.rsa, "same", "RS256"), publicJWK(t, k.ec, "same", "ES256"))
	encOnly := newFakeIdP(t, func() jwk.Key {
		key := publicJWK(t, k.rsa, "enc", "")
		must(t, key.Set(jwk.KeyUsageKey, "enc"))
		return key
	}())

	weakKey, err := rsa.GenerateKey(rand.Reader, 1024)
	must(t, err)
	weak := newFakeIdP(t)
	weak.publishRaw([]byte(`{"keys":[{"kty":"RSA","kid":"weak","e":"AQAB","n":"` +
		base64.RawURLEncoding.EncodeToString(weakKey.N.Bytes()) + `"}]}`))

	exponentOne := newFakeIdP(t)
	exponentOne.publishRaw([]byte(`{"keys":[{"kty":"RSA","kid":"e1","e":"AQ","n":"` +
		base64.RawURLEncoding.EncodeToString(k.rsa.N.Bytes()) + `"}]}`))

	tests := []struct {
		name      string
		givenCfg  func(*config.OIDC)
		givenIdP  *fakeIdP
		wantError string
	}{
		{"refuses an unreachable JWKS", func(c *config.OIDC) { c.JWKSURL = "http://127.0.0.1:1/jwks" }, idp, "fetch jwks"},
		{"refuses a JWKS answered with an error status", nil, broken, "fetch jwks"},
		{"refuses an empty JWKS", nil, empty, "no usable"},
		{"refuses a JWKS of symmetric keys only", nil, symmetric, "no usable"},
		{"refuses a JWKS of encryption keys only", nil, encOnly, "no usable"},
		{"refuses a kid used twice", nil, dup, "twice"},
		{"refuses a JWKS whose only RSA key is under 2048 bits", nil, weak, "no usable"},
		{"refuses a JWKS whose only RSA key has public exponent 1", nil, exponentOne, "no usable"},
		{"refuses HS256 even if validation was skipped", func(c *config.OIDC) { c.Algorithms = []string{"RS256", "HS256"} }, idp, "HS256"},
		{"refuses none even if validation was skipped", func(c *config.OIDC) { c.Algorithms = []string{"none"} }, idp, "none"},
		{"refuses an empty algorithm list", func(c *config.OIDC) { c.Algorithms = nil }, idp, "algorithm"},
		{"refuses a config without issuer", func(c *config.OIDC) { c.Issuer = "" }, idp, "issuer"},
		{"refuses both a JWKS URL and a file", func(c *config.OIDC) { c.JWKSFile = "/dev/null" }, idp, "exactly one"},
		{"refuses a missing JWKS file", func(c *config.OIDC) { c.JWKSURL, c.JWKSFile = "", "/nonexistent/jwks.json" }, idp, "jwks_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testOIDC(tt.givenIdP.srv.URL)
			if tt.givenCfg != nil {
				tt.givenCfg(&cfg)
			}
			_, err := NewJWT(context.Background(), cfg, withJWTHTTPClient(tt.givenIdP.srv.Client()))
			if err == nil || !strings.Contains(err.Error(), tt.wantError) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.wantError)
			}
		})
	}
}

func TestJWTShapeCheck(t *testing.T) {
	tests := []struct {
		name   string
		given  string
		wantOK bool
	}{
		{"passes three base64url segments", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln-_", true},
		{"stops an API key", "alice-test-key", false},
		{"stops the empty string", "", false},
		{"stops two segments", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0", false},
		{"stops four segments", "a.b.c.d", false},
		{"stops an empty signature", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.", false},
		{"stops an empty header", ".eyJzdWIiOiJhIn0.c2ln", false},
		{"stops standard base64 padding", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0=.c2ln", false},
		{"stops standard base64 alphabet", "eyJhbGciOiJSUzI1NiJ9.eyJz+/IiOiJhIn0.c2ln", false},
		{"stops whitespace", "eyJhbGciOiJSUzI1NiJ9. eyJzdWIiOiJhIn0.c2ln", false},
		{"stops a JSON serialization", `{"payload":"a","signatures":[]}`, false},
		{"stops an oversized token", "a." + strings.Repeat("b", maxTokenBytes) + ".c", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := looksLikeJWT(tt.given); got != tt.wantOK {
				t.Fatalf("looksLikeJWT = %v, want %v", got, tt.wantOK)
			}
		})
	}
}

// stubAuth accepts one token and counts its calls.
type stubAuth struct {
	token string
	p     Principal
	calls atomic.Int32
}

func (s *stubAuth) Authenticate(token string) (Principal, bool) {
	s.calls.Add(1)
	if token != s.token {
		return Principal{}, false
	}
	return s.p, true
}

func TestChain(t *testing.T) {
	tests := []struct {
		name          string
		givenToken    string
		wantID        string
		wantOK        bool
		wantSecondRan bool
	}{
		{"answers from the first authenticator that accepts", "first", "one", true, false},
		{"falls through to the next authenticator", "second", "two", true, true},
		{"rejects what no authenticator accepts", "neither", "", false, true},
		{"rejects the empty string", "", "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := &stubAuth{token: "first", p: Principal{ID: "one"}}
			second := &stubAuth{token: "second", p: Principal{ID: "two"}}
			c := Chain(first, nil, second)
			p, ok := c.Authenticate(tt.givenToken)
			if ok != tt.wantOK || p.ID != tt.wantID {
				t.Fatalf("got %q %v, want %q %v", p.ID, ok, tt.wantID, tt.wantOK)
			}
			if ran := second.calls.Load() > 0; ran != tt.wantSecondRan {
				t.Errorf("second authenticator ran = %v, want %v", ran, tt.wantSecondRan)
			}
		})
	}

	t.Run("serves API keys and JWTs side by side", func(t *testing.T) {
		k := testKeys()
		idp := newFakeIdP(t, standardJWKS(t)...)
		sum := sha256.Sum256([]byte("bob-key"))
		keys, err := NewAPIKeys([]config.APIKey{{SHA256: hex.EncodeToString(sum[:]), Subject: "bob", Teams: []string{"nlp"}}})
		must(t, err)
		c := Chain(keys, newTestJWT(t, testOIDC(idp.srv.URL), newTestClock(), idp))
		if p, ok := c.Authenticate("bob-key"); !ok || p.AuthMethod != "api_key" || p.ID != "bob" {
			t.Errorf("API key: %+v %v", p, ok)
		}
		if p, ok := c.Authenticate(mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(nil))); !ok || p.AuthMethod != "jwt" || p.ID != "alice" {
			t.Errorf("JWT: %+v %v", p, ok)
		}
	})
}

type jwtRecorder struct {
	mu   sync.Mutex
	recs []*Record
}

func (r *jwtRecorder) Record(_ context.Context, rec *Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
	return nil
}

// TestJWTThroughHTTP checks what a caller sees: one generic 401 for every
// bad token, and a good token getting past authentication (to the 503 of
// an engine with no policy) with its principal in the decision record.
func TestJWTThroughHTTP(t *testing.T) {
	k := testKeys()
	idp := newFakeIdP(t, standardJWKS(t)...)
	clk := newTestClock()
	sum := sha256.Sum256([]byte("bob-key"))
	keys, err := NewAPIKeys([]config.APIKey{{SHA256: hex.EncodeToString(sum[:]), Subject: "bob"}})
	must(t, err)
	rec := &jwtRecorder{}
	e := New(authz.New(), nil, Chain(keys, newTestJWT(t, testOIDC(idp.srv.URL), clk, idp)),
		WithClock(clk.now), WithAuditor(rec))

	body := `{"team":"vision","operation":"read","object":"cats/1.jpg"}`
	tests := []struct {
		name       string
		givenAuth  string
		wantStatus int
		wantCode   string
	}{
		{"admits a valid JWT", "Bearer " + mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(nil)), 503, codeNotReady},
		{"admits an API key", "Bearer bob-key", 503, codeNotReady},
		{"rejects an expired JWT", "Bearer " + mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(map[string]any{"exp": jwtEpoch.Add(-time.Hour).Unix(), "iat": jwtEpoch.Add(-2 * time.Hour).Unix()})), 401, codeUnauthenticated},
		{"rejects a JWT for another audience", "Bearer " + mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(map[string]any{"aud": "other"})), 401, codeUnauthenticated},
		{"rejects an unsigned JWT", "Bearer " + unsigned(t, "rsa-1", claimsWith(nil), ""), 401, codeUnauthenticated},
		{"rejects an HS256 JWT keyed with the public key", "Bearer " + mint(t, jwa.HS256(), rsaPublicDER(t), "rsa-1", claimsWith(nil)), 401, codeUnauthenticated},
		{"rejects an unknown kid", "Bearer " + mint(t, jwa.RS256(), k.rsaNext, "nope", claimsWith(nil)), 401, codeUnauthenticated},
		{"rejects garbage", "Bearer garbage", 401, codeUnauthenticated},
		{"rejects a missing credential", "", 401, codeUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/v1/decide", strings.NewReader(body))
			req.RemoteAddr = "127.0.0.1:40000"
			req.Header.Set("Content-Type", "application/json")
			if tt.givenAuth != "" {
				req.Header.Set("Authorization", tt.givenAuth)
			}
			rr := httptest.NewRecorder()
			e.ServeHTTP(rr, req)
			var got problemDetails
			if err := json.Unmarshal(rr.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q: %v", rr.Body, err)
			}
			if rr.Code != tt.wantStatus || got.Code != tt.wantCode {
				t.Fatalf("got %d %q, want %d %q", rr.Code, got.Code, tt.wantStatus, tt.wantCode)
			}
			if tt.wantStatus == http.StatusUnauthorized && got.Detail != "missing or invalid credentials" {
				t.Errorf("detail %q: a 401 must not say why", got.Detail)
			}
		})
	}

	t.Run("puts the JWT principal into the policy input", func(t *testing.T) {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.recs) == 0 {
			t.Fatal("no decision record")
		}
		s := rec.recs[0].Input.Subject
		if s.ID != "alice" || s.AuthMethod != "jwt" || !slices.Equal(s.Teams, []string{"vision", "web"}) || s.Claims["tenant"] != "acme" {
			t.Errorf("subject = %+v", s)
		}
	})
}

func TestJWTConfig(t *testing.T) {
	const base = `
connectors:
  vision-s3: {provider: s3, bucket: acme-vision, region: us-east-1}
auth:
`
	tests := []struct {
		name      string
		givenAuth string
		wantError string // empty: valid
	}{
		{"accepts an oidc section without API keys", `
  oidc: {issuer: "https://idp.example.test", audience: signgate, jwks_url: "https://idp.example.test/jwks"}`, ""},
		{"accepts http on 127.0.0.1", `
  oidc: {issuer: i, audience: a, jwks_url: "http://127.0.0.1:8081/jwks"}`, ""},
		{"accepts a jwks_file", `
  oidc: {issuer: i, audience: a, jwks_file: /etc/signgate/jwks.json, leeway: 5m}`, ""},
		{"requires API keys or oidc", `
  api_keys: []`, "config: auth: at least one of api_keys or oidc"},
		{"requires issuer and audience", `
  oidc: {jwks_url: "https://idp.example.test/jwks"}`, "auth.oidc.issuer: required"},
		{"requires a JWKS source", `
  oidc: {issuer: i, audience: a}`, "auth.oidc: set exactly one of jwks_url and jwks_file"},
		{"refuses two JWKS sources", `
  oidc: {issuer: i, audience: a, jwks_url: "https://x/jwks", jwks_file: /x}`, "not both"},
		{"refuses plain http off loopback", `
  oidc: {issuer: i, audience: a, jwks_url: "http://idp.example.test/jwks"}`, "auth.oidc.jwks_url: want https"},
		{"refuses alg none", `
  oidc: {issuer: i, audience: a, jwks_file: /x, algorithms: [RS256, none]}`, "auth.oidc.algorithms[1]"},
		{"refuses HS256", `
  oidc: {issuer: i, audience: a, jwks_file: /x, algorithms: [HS256]}`, "auth.oidc.algorithms[0]"},
		{"refuses an unknown algorithm", `
  oidc: {issuer: i, audience: a, jwks_file: /x, algorithms: [ES512]}`, "want one of"},
		{"refuses a leeway above 5m", `
  oidc: {issuer: i, audience: a, jwks_file: /x, leeway: 6m}`, "auth.oidc.leeway"},
		{"refuses a negative leeway", `
  oidc: {issuer: i, audience: a, jwks_file: /x, leeway: -1s}`, "auth.oidc.leeway"},
		{"refuses a refresh interval below 1s", `
  oidc: {issuer: i, audience: a, jwks_file: /x, refresh_min_interval: 10ms}`, "auth.oidc.refresh_min_interval"},
		{"refuses an unknown field", `
  oidc: {issuer: i, audience: a, jwks_file: /x, jwks_uri: y}`, "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(base + tt.givenAuth))
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Auth.OIDC == nil {
				t.Fatal("oidc section lost")
			}
		})
	}

	t.Run("fills defaults", func(t *testing.T) {
		cfg, err := config.Parse([]byte(base + `
  oidc: {issuer: i, audience: a, jwks_file: /x}`))
		must(t, err)
		o := cfg.Auth.OIDC
		if !slices.Equal(o.Algorithms, []string{"RS256", "ES256", "EdDSA"}) || o.Leeway.Duration != 30*time.Second ||
			o.SubjectClaim != "sub" || o.TeamsClaim != "groups" || o.RefreshMinInterval.Duration != 30*time.Second {
			t.Errorf("defaults = %+v", o)
		}
	})
}
