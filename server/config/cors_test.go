package config

import (
	"strings"
	"testing"
)

func TestCORSValidate(t *testing.T) {
	tests := []struct {
		name      string
		given     CORS
		wantError string
	}{
		{"off by default", CORS{}, ""},
		{"named origins", CORS{AllowedOrigins: []string{"https://app.example.com", "http://127.0.0.1:5173"}}, ""},
		{"refuses a wildcard", CORS{AllowedOrigins: []string{"*"}}, "server.cors.allowed_origins[0]: wildcards are refused"},
		{"refuses an origin with a path", CORS{AllowedOrigins: []string{"https://app.example.com/x"}}, "server.cors.allowed_origins[0]: want an origin"},
		{"refuses a method the API has not", CORS{AllowedOrigins: []string{"https://a.example"}, AllowedMethods: []string{"DELETE"}}, "server.cors.allowed_methods[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			tt.given.validate("server.cors", func(path, format string, args ...any) {
				got = append(got, path+": "+format)
			})
			switch {
			case tt.wantError == "" && len(got) > 0:
				t.Fatalf("errors %q, want none", got)
			case tt.wantError != "" && (len(got) != 1 || !strings.HasPrefix(got[0], tt.wantError)):
				t.Fatalf("errors %q, want one starting %q", got, tt.wantError)
			}
		})
	}
}
