package storage

import (
	"fmt"
	"strings"
	"testing"
)

// outcome records what SkipOrFail asked of a test instead of doing it.
type outcome struct {
	testing.TB
	skipped, failed string
}

func (o *outcome) Helper()                      {}
func (o *outcome) Skip(args ...any)             { o.skipped = fmt.Sprint(args...) }
func (o *outcome) Fatal(args ...any)            { o.failed = fmt.Sprint(args...) }
func (o *outcome) Fatalf(f string, args ...any) { o.failed = fmt.Sprintf(f, args...) }

func TestSkipOrFail(t *testing.T) {
	tests := []struct {
		name        string
		givenEnv    string
		wantSkipped bool
		wantFailure string
	}{
		{"skips when the end-to-end tests are optional", "", true, ""},
		{"fails when .ci/run requires them", "required", false, "versitygw not installed (SIGNGATE_E2E=required: end-to-end tests may not skip)"},
		{"fails on a value it does not know", "yes", false, `SIGNGATE_E2E="yes": want required or unset`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(RequiredEnv, tt.givenEnv)
			var got outcome
			SkipOrFail(&got, "SKIPPED: versitygw not installed")
			if (got.skipped != "") != tt.wantSkipped {
				t.Errorf("skipped = %q, want skipped %v", got.skipped, tt.wantSkipped)
			}
			if !strings.Contains(got.failed, tt.wantFailure) || (tt.wantFailure == "") != (got.failed == "") {
				t.Errorf("failed = %q, want %q", got.failed, tt.wantFailure)
			}
		})
	}
}
