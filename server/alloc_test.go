package server

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/signgate/signgate/server/config"
)

// TestHotPathsDoNotAllocate pins the allocations that the request path
// was cut to: counts, not times, so that a change that brings one back
// is seen.
func TestHotPathsDoNotAllocate(t *testing.T) {
	const key = "sgk-0123456789abcdef0123456789abcdef"
	sum := sha256.Sum256([]byte(key))
	keys, err := NewAPIKeys([]config.APIKey{{Subject: "alice", SHA256: hex.EncodeToString(sum[:]), Teams: []string{"vision"}}})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"team":"vision","operation":"read","object":"runs/42/model.pt","expires_in":900}`)
	resp := &signResponse{URL: "https://h/k?a=1&b=2", Method: "GET", Headers: map[string]string{}, DecisionID: "d",
		ExpiresAt: time.Date(2026, 11, 27, 10, 15, 0, 0, time.UTC), Provider: "s3", Bucket: "b", Key: "k"}
	prob := &problemDetails{Type: "urn:signgate:problem:denied", Title: "Forbidden", Status: 403, Code: "denied",
		Reasons: []string{"not_team_member"}, DecisionID: "d", RequestID: "r"}
	buf := make([]byte, 0, 4096)
	tests := []struct {
		name       string
		givenWork  func()
		wantAllocs float64
	}{
		{name: "an API key is looked up", givenWork: func() {
			if _, ok := keys.Authenticate(key); !ok {
				t.Fatal("key refused")
			}
		}},
		{name: "a request body's keys are checked", givenWork: func() {
			if !keysPlain(body, reflect.TypeFor[*signRequest]()) {
				t.Fatal("body refused")
			}
		}},
		{name: "a sign request is decoded into one string", wantAllocs: 2, givenWork: func() {
			var r signRequest
			if !decodePlain(body, &r) {
				t.Fatal("body not plain")
			}
		}},
		{name: "a sign answer is encoded", givenWork: func() { buf, _ = resp.appendJSON(buf[:0]) }},
		{name: "a problem is encoded", givenWork: func() { buf = prob.appendJSON(buf[:0]) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(100, tc.givenWork); got != tc.wantAllocs {
				t.Errorf("%v allocations, want %v", got, tc.wantAllocs)
			}
		})
	}
}

// TestLongAPIKeysAuthenticate: a key too long for the stack buffer is
// still hashed whole.
func TestLongAPIKeysAuthenticate(t *testing.T) {
	long := strings.Repeat("k", 300)
	sum := sha256.Sum256([]byte(long))
	keys, err := NewAPIKeys([]config.APIKey{{Subject: "alice", SHA256: hex.EncodeToString(sum[:])}})
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := keys.Authenticate(long); !ok || p.ID != "alice" {
		t.Errorf("the 300-byte key was refused")
	}
	if _, ok := keys.Authenticate(long[:128]); ok {
		t.Errorf("the key's first 128 bytes were accepted")
	}
}
