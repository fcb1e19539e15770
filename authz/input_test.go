package authz

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// TestInputASTEqualsItsJSON checks that the input the policy gets (AST,
// built without reflection) is the input the record shows (its JSON form),
// field for field: a field missing from AST would silently be undefined
// in the policy, so a deny-list or members entry would never match.
func TestInputASTEqualsItsJSON(t *testing.T) {
	tests := []struct {
		name  string
		given Input
	}{
		{name: "a token caller with claims", given: Input{
			Subject: Subject{ID: "alice", Principal: "jwt:https://login.example.com/#alice", Teams: []string{"vision"}, AuthMethod: "jwt",
				Claims: map[string]any{"sub": "alice", "groups": []any{"vision"}, "email_verified": true}},
			Action: Action{Team: "vision", Operation: "read", Object: "runs/42/model.pt", ExpiresIn: 900},
			Source: Source{IP: "10.1.2.3", UserAgent: "curl/8"},
			Time:   "2026-11-27T10:00:00Z",
		}},
		{name: "an API key caller uploading with every action field", given: Input{
			Subject: Subject{ID: "carol", Principal: "key:carol", Teams: []string{}, AuthMethod: "api_key", Claims: map[string]any{}},
			Action:  Action{Team: "nlp", Operation: "write", Object: "a.bin", ExpiresIn: 60, ContentType: "application/x-tar", Size: 1 << 30, Form: true},
			Source:  Source{IP: "::1"},
			Time:    "2026-11-27T10:00:00Z",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.given.AST()
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(tc.given)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ast.ValueFromReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if got.Compare(want) != 0 {
				t.Errorf("the policy's input differs from the record's:\n got  %v\n want %v", got, want)
			}
		})
	}
}
