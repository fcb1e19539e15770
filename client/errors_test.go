package client

import (
	"errors"
	"fmt"
	"testing"
)

func TestProblemsAreTyped(t *testing.T) {
	tests := []struct {
		name         string
		givenStatus  int
		givenBody    string
		wantIs       func(error) bool
		wantDecision string
		wantRetry    bool
	}{
		{"a denial keeps its decision id", 403,
			`{"type":"urn:signgate:problem:denied","status":403,"code":"denied","reasons":["not_team_member"],"decision_id":"d-1"}`,
			IsDenied, "d-1", false},
		{"an unenforceable constraint", 422, `{"status":422,"code":"constraint_unenforceable","decision_id":"d-2"}`, IsUnenforceable, "d-2", false},
		{"not ready is worth another try", 503, `{"status":503,"code":"not_ready"}`, IsNotReady, "", true},
		{"a body that is not a problem", 502, `<html>bad gateway</html>`, func(err error) bool { return hasCode(err, "http_error") }, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fmt.Errorf("wrapped: %w", problemError(tt.givenStatus, []byte(tt.givenBody)))
			var e *Error
			if !tt.wantIs(err) || DecisionID(err) != tt.wantDecision || !errors.As(err, &e) || e.Status != tt.givenStatus {
				t.Fatalf("error %v: want typed, decision %q, status %d", err, tt.wantDecision, tt.givenStatus)
			}
			if e.Temporary() != tt.wantRetry {
				t.Errorf("Temporary() = %v, want %v", e.Temporary(), tt.wantRetry)
			}
		})
	}
}
