package bundles_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// policyRepo lays out a security team's policy repository as
// docs/policy.md describes it: opa-test.sh at its root, and in policies/
// signgate's shipped policy plus extra files (name to content).
func policyRepo(t *testing.T, extra map[string]string) string {
	t.Helper()
	repo := t.TempDir()
	dir := filepath.Join(repo, "policies")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, "../opa-test.sh", filepath.Join(repo, "opa-test.sh"))
	if err := os.Chmod(filepath.Join(repo, "opa-test.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	shipped, err := filepath.Glob("../policies/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range shipped {
		if name := filepath.Base(src); strings.HasSuffix(name, ".rego") || name == "data.json" {
			copyFile(t, src, filepath.Join(dir, name))
		}
	}
	for name, body := range extra {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return repo
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func examples(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("../docs/examples/*_test.rego")
	if err != nil || len(files) != 3 {
		t.Fatalf("want the three worked examples in docs/examples, got %v (%v)", files, err)
	}
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = string(b)
	}
	return out
}

// TestRegoGateOnAPolicyRepository runs opa-test.sh in a security team's
// repository, as its CI would: the shipped policy with docs/policy.md's
// worked examples added.
func TestRegoGateOnAPolicyRepository(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the OPA binary comes from `go tool opa`, and go is not on PATH")
	}
	// The team's repository has no go.mod: the gate runs the opa binary
	// that $OPA names, here the one go.mod pins.
	opaBin, err := exec.CommandContext(t.Context(), "go", "tool", "-n", "opa").Output()
	if err != nil {
		t.Fatalf("go tool -n opa: %v", err)
	}
	tests := []struct {
		name       string
		givenExtra map[string]string
		wantOK     bool
		wantOutput string
	}{
		{name: "passes the worked examples with the shipped policy", givenExtra: examples(t), wantOK: true, wantOutput: "opa-test: OK ("},
		{name: "fails a .manifest whose roots leave out a policy, as signgate would refuse the bundle",
			givenExtra: map[string]string{".manifest": `{"revision": "r1", "roots": ["signgate"]}`}, wantOutput: "manifest roots"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), "./opa-test.sh")
			cmd.Dir = policyRepo(t, tc.givenExtra)
			cmd.Env = append(os.Environ(), "OPA="+strings.TrimSpace(string(opaBin)))
			out, err := cmd.CombinedOutput()
			if (err == nil) != tc.wantOK || !strings.Contains(string(out), tc.wantOutput) {
				t.Fatalf("opa-test.sh: err %v, want ok %v and %q; output:\n%s", err, tc.wantOK, tc.wantOutput, out)
			}
		})
	}
}

// TestPolicyGuideShowsTheTestedExamples keeps docs/policy.md and the files
// that the gate runs the same: each example appears there whole.
func TestPolicyGuideShowsTheTestedExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/policy.md")
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range examples(t) {
		if !strings.Contains(string(doc), "```rego\n"+body+"```") {
			t.Errorf("docs/policy.md does not show docs/examples/%s as it is", name)
		}
	}
}
