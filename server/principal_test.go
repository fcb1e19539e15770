package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/bundles"
	"github.com/signgate/signgate/policies"
	"github.com/signgate/signgate/server/config"
	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/s3"
)

// TestPrincipalsAreNamespaced: an API key's subject and a token's sub share
// no namespace. The example data makes API-key subject carol a member of
// contractors; a token whose sub is "carol" gets neither her grants nor
// her explanations.
func TestPrincipalsAreNamespaced(t *testing.T) {
	k := testKeys()
	idp := newFakeIdP(t, standardJWKS(t)...)
	clk := newTestClock()
	sum := sha256.Sum256([]byte("carol-key"))
	keys, err := NewAPIKeys([]config.APIKey{{SHA256: hex.EncodeToString(sum[:]), Subject: "carol"}})
	must(t, err)
	engine := authz.New()
	b, err := bundles.LoadFS(policies.FS)
	must(t, err)
	must(t, engine.Activate(context.Background(), b, "embedded"))
	sg, err := s3.New(s3.Config{Bucket: "acme-contractors", Region: "us-east-1", Credentials: s3.StaticCredentials("AKID", "secret")})
	must(t, err)
	signers := map[string]signer.Signer{"contractors-s3": sg}
	auth := Chain(keys, newTestJWT(t, testOIDC(idp.srv.URL), clk, idp))
	tokenCarol := mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(map[string]any{"sub": "carol", "groups": []string{}}))
	tokenPrincipal := "jwt:" + testIssuer + "#carol"

	tests := []struct {
		name          string
		givenExplain  []string
		givenAuth     string
		givenQuery    string
		wantStatus    int
		wantAllow     bool
		wantPrincipal string
	}{
		{name: "the API key's carol is a member", givenAuth: "carol-key", wantStatus: 200, wantAllow: true, wantPrincipal: "key:carol"},
		{name: "a token whose sub is carol is not", givenAuth: tokenCarol, wantStatus: 200, wantAllow: false, wantPrincipal: tokenPrincipal},
		{name: "a bare explain subject is the API key's", givenExplain: []string{"carol"}, givenAuth: "carol-key", givenQuery: "?explain=full", wantStatus: 200, wantAllow: true},
		{name: "a bare explain subject is not the token's", givenExplain: []string{"carol"}, givenAuth: tokenCarol, givenQuery: "?explain=full", wantStatus: 403},
		{name: "a namespaced explain subject is the token's", givenExplain: []string{tokenPrincipal}, givenAuth: tokenCarol, givenQuery: "?explain=full", wantStatus: 200},
		{name: "a namespaced explain subject is not the API key's", givenExplain: []string{tokenPrincipal}, givenAuth: "carol-key", givenQuery: "?explain=full", wantStatus: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &jwtRecorder{}
			e := New(engine, signers, auth, WithClock(clk.now), WithAuditor(rec), WithExplainSubjects(tt.givenExplain))
			req := httptest.NewRequest(http.MethodPost, "/v1/decide"+tt.givenQuery, strings.NewReader(`{"team":"contractors","operation":"read","object":"a.txt"}`))
			req.RemoteAddr = "127.0.0.1:40000"
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tt.givenAuth)
			rw := httptest.NewRecorder()
			e.ServeHTTP(rw, req)
			if rw.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", rw.Code, tt.wantStatus, rw.Body)
			}
			if tt.wantStatus != 200 {
				return
			}
			var body struct {
				Allow   bool     `json:"allow"`
				Reasons []string `json:"reasons"`
			}
			must(t, json.Unmarshal(rw.Body.Bytes(), &body))
			if body.Allow != tt.wantAllow {
				t.Fatalf("allow = %v, want %v: %s", body.Allow, tt.wantAllow, rw.Body)
			}
			if tt.wantPrincipal != "" {
				if len(rec.recs) != 1 || rec.recs[0].Input.Subject.Principal != tt.wantPrincipal {
					t.Fatalf("record subject %+v, want principal %s", rec.recs, tt.wantPrincipal)
				}
			}
		})
	}
}

// TestATokenListedByItsPrincipalIsAMember: members written as a token's
// principal (jwt:<issuer>#<sub>) reach the policy's input and match that
// token, and only that token.
func TestATokenListedByItsPrincipalIsAMember(t *testing.T) {
	k := testKeys()
	idp := newFakeIdP(t, standardJWKS(t)...)
	clk := newTestClock()
	tokenPrincipal := "jwt:" + testIssuer + "#dana"
	b, err := bundles.LoadFS(policies.FS)
	must(t, err)
	contractors := b.Data["signgate"].(map[string]any)["teams"].(map[string]any)["contractors"].(map[string]any)
	contractors["members"] = []any{tokenPrincipal}
	engine := authz.New()
	must(t, engine.Activate(context.Background(), b, "test"))
	sg, err := s3.New(s3.Config{Bucket: "acme-contractors", Region: "us-east-1", Credentials: s3.StaticCredentials("AKID", "secret")})
	must(t, err)
	signers := map[string]signer.Signer{"contractors-s3": sg}
	auth := newTestJWT(t, testOIDC(idp.srv.URL), clk, idp)
	e := New(engine, signers, auth, WithClock(clk.now), WithAuditor(&jwtRecorder{}))

	for _, tt := range []struct {
		name      string
		givenSub  string
		wantAllow bool
	}{
		{"the listed token is a member", "dana", true},
		{"another token is not", "erin", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			token := mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(map[string]any{"sub": tt.givenSub, "groups": []string{}}))
			req := httptest.NewRequest(http.MethodPost, "/v1/decide", strings.NewReader(`{"team":"contractors","operation":"read","object":"a.txt"}`))
			req.RemoteAddr = "127.0.0.1:40000"
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			rw := httptest.NewRecorder()
			e.ServeHTTP(rw, req)
			var body struct {
				Allow bool `json:"allow"`
			}
			must(t, json.Unmarshal(rw.Body.Bytes(), &body))
			if rw.Code != 200 || body.Allow != tt.wantAllow {
				t.Fatalf("status %d allow %v, want 200 allow %v: %s", rw.Code, body.Allow, tt.wantAllow, rw.Body)
			}
		})
	}
}
