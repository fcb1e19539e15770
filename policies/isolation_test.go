package policies_test

import (
	"context"
	"encoding/json"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/signgate/signgate/policies"
)

// examplePrefix names the Rego tests of the shipped example data; every
// other Rego test runs on fixtures of its own.
const examplePrefix = "test_example_data_"

// TestRegoTestsDependOnlyOnTheDataTheyName runs the shipped Rego tests on
// other data than policies/data.json: the fixture tests must not notice,
// and the example-data tests must notice only a change to the teams.
func TestRegoTestsDependOnlyOnTheDataTheyName(t *testing.T) {
	shipped := exampleData(t)
	// Keys the policy does not read today, naming the tests' subjects: a
	// test that read them through data.json would change its result once
	// the policy reads them.
	extraKeys := func(d map[string]any) map[string]any {
		d["deny_subjects"] = []any{"alice", "dave", "carol", "mallory"}
		d["signgate"].(map[string]any)["deny_subjects"] = []any{"alice", "dave", "carol", "mallory"}
		return d
	}
	// Teams named as the fixtures' are, with other contents.
	otherTeams := map[string]any{"signgate": map[string]any{"teams": map[string]any{
		"vision":      map[string]any{"connector": "elsewhere", "prefix": "elsewhere/", "operations": []any{}},
		"vpn":         map[string]any{"connector": "vpn-s3", "prefix": "vpn/", "operations": []any{"read"}, "cidrs": []any{"192.0.2.0/24"}},
		"media":       map[string]any{"connector": "media-s3", "prefix": "media/", "operations": []any{"read"}},
		"contractors": map[string]any{"connector": "contractors-s3", "prefix": "contractors/", "operations": []any{"read"}, "cidrs": []any{"192.0.2.0/24"}},
	}}}
	tests := []struct {
		name            string
		givenData       map[string]any
		wantExampleFail bool // the example-data tests fail: they read the teams
	}{
		{"the shipped data with extra keys changes no result", extraKeys(shipped), false},
		{"other teams change only the example-data tests", extraKeys(otherTeams), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			results, want := runRegoTests(t, tt.givenData)
			if len(results) != want {
				t.Fatalf("ran %d Rego tests, want the %d the policies define", len(results), want)
			}
			var fixture, example int
			for _, r := range results {
				failed := r.Fail || r.Error != nil
				if !strings.HasPrefix(r.Name, examplePrefix) {
					fixture++
					if failed {
						t.Errorf("%s depends on data it does not set (error %v)", r.Name, r.Error)
					}
					continue
				}
				example++
				if failed != tt.wantExampleFail {
					t.Errorf("%s: failed = %v (error %v), want %v", r.Name, failed, r.Error, tt.wantExampleFail)
				}
			}
			if fixture == 0 || example == 0 {
				t.Errorf("ran %d fixture and %d example-data tests, want some of each", fixture, example)
			}
		})
	}
}

// exampleData is policies/data.json.
func exampleData(t *testing.T) map[string]any {
	t.Helper()
	raw, err := fs.ReadFile(policies.FS, "data.json")
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// runRegoTests runs every Rego test of policies.FS on data, and returns the
// results and how many test rules the modules define.
func runRegoTests(t *testing.T, data map[string]any) ([]*tester.Result, int) {
	t.Helper()
	names, err := fs.Glob(policies.FS, "*.rego")
	if err != nil {
		t.Fatal(err)
	}
	modules := map[string]*ast.Module{}
	defined := 0
	for _, name := range names {
		src, err := fs.ReadFile(policies.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ast.ParseModuleWithOpts(name, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatal(err)
		}
		modules[name] = m
		for _, r := range m.Rules {
			if strings.HasPrefix(r.Head.Ref().String(), "test_") {
				defined++
			}
		}
	}
	if defined == 0 {
		t.Fatal("policies.FS holds no Rego tests")
	}
	ctx := context.Background()
	store := inmem.NewFromObject(data)
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Abort(ctx, txn)
	// The timeout is opa-test.sh's: the agreement tests evaluate hundreds of
	// decisions each, and a loaded machine takes more than the default 5 s.
	ch, err := tester.NewRunner().SetStore(store).SetModules(modules).SetParallel(1).SetTimeout(60*time.Second).RunTests(ctx, txn)
	if err != nil {
		t.Fatal(err)
	}
	var results []*tester.Result
	for r := range ch {
		results = append(results, r)
	}
	return results, defined
}
