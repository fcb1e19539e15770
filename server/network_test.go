package server_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/bundles"
	"github.com/signgate/signgate/policies"
	"github.com/signgate/signgate/server"
	"github.com/signgate/signgate/server/config"
	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/s3"
)

const carolKey = "carol-test-key"

// TestClientIPFromTrustedProxiesOnly checks that forwarding headers move the
// client IP the policy sees only when the peer is a configured proxy.
func TestClientIPFromTrustedProxiesOnly(t *testing.T) {
	sg, err := s3.New(s3.Config{Bucket: "acme-contractors", Region: "us-east-1", Credentials: s3.StaticCredentials("AKID", "secret")})
	if err != nil {
		t.Fatal(err)
	}
	signers := map[string]signer.Signer{"contractors-s3": sg}
	engine := authz.New()
	b, err := bundles.LoadFS(policies.FS)
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.Activate(context.Background(), b, "embedded"); err != nil {
		t.Fatal(err)
	}
	// carol is a member of contractors through policy data only; the team
	// allows 10.0.0.0/8, 192.168.0.0/16 and 127.0.0.0/8.
	auth, err := server.NewAPIKeys([]config.APIKey{{SHA256: sum(carolKey), Subject: "carol"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		givenTrusted []string
		givenRealIP  bool
		givenPeer    string
		givenHeaders map[string]string
		wantStatus   int
		wantReason   string
	}{
		{name: "allows a peer inside the team's CIDRs", givenPeer: "10.9.8.7:5000", wantStatus: 200},
		{name: "denies a peer outside the team's CIDRs", givenPeer: "203.0.113.5:5000", wantStatus: 403, wantReason: "network_not_allowed"},
		{name: "ignores a spoofed X-Forwarded-For from an untrusted peer", givenPeer: "203.0.113.5:5000",
			givenHeaders: map[string]string{"X-Forwarded-For": "10.1.2.3"}, wantStatus: 403, wantReason: "network_not_allowed"},
		{name: "ignores a spoofed X-Real-IP from an untrusted peer", givenPeer: "203.0.113.5:5000",
			givenHeaders: map[string]string{"X-Real-IP": "10.1.2.3"}, wantStatus: 403, wantReason: "network_not_allowed"},
		{name: "ignores forwarding headers when the peer is not the configured proxy", givenTrusted: []string{"198.51.100.0/24"}, givenPeer: "203.0.113.5:5000",
			givenHeaders: map[string]string{"X-Forwarded-For": "10.1.2.3"}, wantStatus: 403, wantReason: "network_not_allowed"},
		{name: "believes X-Forwarded-For from a trusted proxy", givenTrusted: []string{"203.0.113.0/24"}, givenPeer: "203.0.113.5:5000",
			givenHeaders: map[string]string{"X-Forwarded-For": "10.1.2.3"}, wantStatus: 200},
		{name: "believes X-Real-IP from a trusted proxy when configured", givenTrusted: []string{"203.0.113.0/24"}, givenRealIP: true, givenPeer: "203.0.113.5:5000",
			givenHeaders: map[string]string{"X-Real-IP": "10.1.2.3", "X-Forwarded-For": "198.51.100.9"}, wantStatus: 200},
		{name: "ignores X-Real-IP from an untrusted peer when configured", givenTrusted: []string{"198.51.100.0/24"}, givenRealIP: true, givenPeer: "203.0.113.5:5000",
			givenHeaders: map[string]string{"X-Real-IP": "10.1.2.3"}, wantStatus: 403, wantReason: "network_not_allowed"},
		{name: "takes the client, not a spoofed leftmost entry, through a trusted proxy", givenTrusted: []string{"203.0.113.0/24"}, givenPeer: "203.0.113.5:5000",
			givenHeaders: map[string]string{"X-Forwarded-For": "10.1.2.3, 198.51.100.9"}, wantStatus: 403, wantReason: "network_not_allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var trusted []netip.Prefix
			for _, p := range tc.givenTrusted {
				trusted = append(trusted, netip.MustParsePrefix(p))
			}
			opts := []server.Option{server.WithTrustedProxies(trusted)}
			if tc.givenRealIP {
				opts = append(opts, server.WithRealIPHeader())
			}
			e := server.New(engine, signers, auth, opts...)
			req := httptest.NewRequest("POST", "/v1/sign", strings.NewReader(`{"team":"contractors","operation":"read","object":"a"}`))
			req.RemoteAddr = tc.givenPeer
			req.Header.Set("Authorization", "Bearer "+carolKey)
			req.Header.Set("Content-Type", "application/json")
			for k, v := range tc.givenHeaders {
				req.Header.Set(k, v)
			}
			rw := httptest.NewRecorder()
			e.ServeHTTP(rw, req)
			var body map[string]any
			_ = json.Unmarshal(rw.Body.Bytes(), &body)
			if rw.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", rw.Code, tc.wantStatus, rw.Body)
			}
			if tc.wantReason != "" && !strings.Contains(rw.Body.String(), tc.wantReason) {
				t.Fatalf("want reason %s: %s", tc.wantReason, rw.Body)
			}
		})
	}
}

// TestNetworkRangeInTheURL checks that a team's network range is signed
// into Azure URLs (sip; Azurite does not enforce it, so it is checked
// here) and reported as enforced by signgate only for S3.
func TestNetworkRangeInTheURL(t *testing.T) {
	h := newHarness(t, func(o *options) {
		o.engine = embeddedEngine(t, o.signers, func(data map[string]any) {
			teams := data["signgate"].(map[string]any)["teams"].(map[string]any)
			teams["web"].(map[string]any)["cidrs"] = []any{"10.0.0.0/8", "127.0.0.0/8"}
			teams["vision"].(map[string]any)["cidrs"] = []any{"127.0.0.0/8"}
		})
	})
	tests := []struct {
		name, givenTeam, wantSip, wantEnforcedBy string
	}{
		{"signs the caller's range into an Azure SAS as sip", "web", "127.0.0.0-127.255.255.255", "storage"},
		{"says an S3 URL's range is enforced by signgate only", "vision", "", "signgate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(t, "POST", "/v1/sign", aliceKey, `{"team":"`+tc.givenTeam+`","operation":"read","object":"a"}`)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			u, err := url.Parse(r.body["url"].(string))
			if err != nil {
				t.Fatal(err)
			}
			if got := u.Query().Get("sip"); got != tc.wantSip {
				t.Fatalf("sip = %q, want %q", got, tc.wantSip)
			}
			nw, _ := r.body["network"].(map[string]any)
			if nw["ip_range"] != "127.0.0.0/8" || nw["enforced_by"] != tc.wantEnforcedBy {
				t.Fatalf("network = %v", nw)
			}
		})
	}
}
