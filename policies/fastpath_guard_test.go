package policies_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/signgate/signgate/policies"
)

// checksDigest is the digest of every rule of the shipped policy except
// decision's fast paths: full_decision, the reasons and every rule they read.
const checksDigest = "9f8cee7b120c20da897bfae72f2c0addc29651ca5a6d27dca957779e9b9e91a2"

// TestFastPathsAreReviewedWhenAChecksChanges is a tripwire, not a proof:
// the agreement tests compare decision with full_decision only over the
// teams and requests they enumerate, so a new check whose inputs they do not
// vary could pass them while a fast path skips it. Any change to a rule
// other than decision (comments and formatting aside) fails this test until
// the digest is updated, which is the moment to review every fast path.
func TestFastPathsAreReviewedWhenAChecksChanges(t *testing.T) {
	var rules []string
	err := fs.WalkDir(policies.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".rego") || strings.HasSuffix(path, "_test.rego") {
			return err
		}
		src, err := fs.ReadFile(policies.FS, path)
		if err != nil {
			return err
		}
		m, err := ast.ParseModuleWithOpts(path, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return err
		}
		if m.Package.Path.String() != "data.signgate.authz" {
			return nil
		}
		for _, r := range m.Rules {
			if r.Head.Name.String() == "decision" {
				continue
			}
			rules = append(rules, r.String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(rules)
	sum := sha256.Sum256([]byte(strings.Join(rules, "\n")))
	if got := hex.EncodeToString(sum[:]); got != checksDigest {
		t.Fatalf("full_decision, a reason or a rule they read changed (%d rules).\n"+
			"Review every fast path of decision in authz.rego against the change (docs/policy.md, \"Adding a check\"):\n"+
			"each must still imply full_decision's checks. Then set checksDigest to %s", len(rules), got)
	}
}
