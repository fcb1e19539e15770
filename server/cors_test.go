package server_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/signgate/signgate/server"
)

func TestCORS(t *testing.T) {
	const app = "https://app.example.com"
	tests := []struct {
		name        string
		givenCORS   server.CORS
		givenMethod string
		givenOrigin string
		wantAllowed bool // Access-Control-Allow-Origin names the origin
	}{
		{"a preflight from an allowed origin is answered", server.CORS{AllowedOrigins: []string{app}}, http.MethodOptions, app, true},
		{"a preflight from another origin is refused", server.CORS{AllowedOrigins: []string{app}}, http.MethodOptions, "https://evil.example.com", false},
		{"a request from an allowed origin may be read", server.CORS{AllowedOrigins: []string{app}}, http.MethodPost, app, true},
		{"a request from another origin may not be read", server.CORS{AllowedOrigins: []string{app}}, http.MethodPost, "https://evil.example.com", false},
		{"CORS is off by default", server.CORS{}, http.MethodOptions, app, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signers := exampleSigners(t)
			e := server.New(embeddedEngine(t, signers), signers, testKeys(t), server.WithClock(clock), server.WithCORS(tt.givenCORS))
			req := httptest.NewRequest(tt.givenMethod, "/v1/sign", strings.NewReader(`{"team":"vision","operation":"read","object":"a"}`))
			req.Header.Set("Origin", tt.givenOrigin)
			if tt.givenMethod == http.MethodOptions {
				req.Header.Set("Access-Control-Request-Method", "POST")
				req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
			} else {
				req.Header.Set("Authorization", "Bearer "+aliceKey)
				req.Header.Set("Content-Type", "application/json")
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			h := rec.Header()
			if got := h.Get("Access-Control-Allow-Origin") == tt.givenOrigin; got != tt.wantAllowed {
				t.Fatalf("status %d, Access-Control-Allow-Origin %q; want allowed=%v", rec.Code, h.Get("Access-Control-Allow-Origin"), tt.wantAllowed)
			}
			if h.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("credentials allowed: %v", h)
			}
			if tt.wantAllowed && tt.givenMethod == http.MethodOptions {
				if rec.Code != http.StatusNoContent || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
					!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "authorization") || h.Get("Access-Control-Max-Age") != "600" {
					t.Errorf("preflight %d %v, want 204 allowing POST with Authorization for 600 s", rec.Code, h)
				}
			}
			if tt.wantAllowed && tt.givenMethod == http.MethodPost && rec.Code != http.StatusOK {
				t.Errorf("POST from an allowed origin: %d %s", rec.Code, rec.Body)
			}
		})
	}
}
