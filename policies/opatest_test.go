package policies_test

import (
	"encoding/json"
	"io/fs"
	"os/exec"
	"strings"
	"testing"

	"github.com/signgate/signgate/policies"
)

// TestOPATestGate runs the Rego authors' CI gate, opa-test.sh, as CI does.
func TestOPATestGate(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("opa-test.sh runs `go tool opa`, and go is not on PATH")
	}
	tests := []struct {
		name       string
		givenDir   string // working directory of the caller
		givenArgs  []string
		wantOK     bool
		wantOutput string
	}{
		{
			name:       "passes the shipped policy",
			givenDir:   "..",
			givenArgs:  nil,
			wantOK:     true,
			wantOutput: "opa-test: OK (",
		},
		{
			name:       "fails a bundle whose tests pass but leave a rule uncovered",
			givenDir:   ".",
			givenArgs:  []string{"../bundles/testdata/uncovered"},
			wantOK:     false,
			wantOutput: "coverage 75% is below 100%",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			script := "./opa-test.sh"
			if tt.givenDir == "." {
				script = "../opa-test.sh"
			}
			cmd := exec.CommandContext(t.Context(), script, tt.givenArgs...)
			cmd.Dir = tt.givenDir
			out, err := cmd.CombinedOutput()
			if gotOK := err == nil; gotOK != tt.wantOK {
				t.Fatalf("%s %v: ok = %v (err %v), want %v; output:\n%s", script, tt.givenArgs, gotOK, err, tt.wantOK, out)
			}
			if !strings.Contains(string(out), tt.wantOutput) {
				t.Errorf("output does not mention %q:\n%s", tt.wantOutput, out)
			}
		})
	}
}

// TestFSHoldsPolicyAndExampleData guards the embed pattern and the
// connector names the Go dev config relies on.
func TestFSHoldsPolicyAndExampleData(t *testing.T) {
	for _, name := range []string{"authz.rego", "authz_test.rego", "data.json"} {
		if _, err := fs.Stat(policies.FS, name); err != nil {
			t.Errorf("FS lacks %s: %v", name, err)
		}
	}
	raw, err := fs.ReadFile(policies.FS, "data.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Signgate struct {
			Teams map[string]struct {
				Connector string `json:"connector"`
				Prefix    string `json:"prefix"`
			} `json:"teams"`
		} `json:"signgate"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("data.json: %v", err)
	}
	want := map[string]string{
		"vision":      "vision-s3",
		"research":    "research-s3",
		"nlp":         "nlp-gcs",
		"web":         "web-azure",
		"contractors": "contractors-s3",
	}
	for team, connector := range want {
		got := doc.Signgate.Teams[team]
		if got.Connector != connector || got.Prefix != team+"/" {
			t.Errorf("team %s = {connector %q, prefix %q}, want {%q, %q}", team, got.Connector, got.Prefix, connector, team+"/")
		}
	}
}
