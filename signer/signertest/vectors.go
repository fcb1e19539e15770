package signertest

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// VectorDir returns signer/testdata/vectors/<elem...>, where the official
// test vectors live with their SOURCE.md, as a path relative to the test's
// working directory. It finds the module root by walking up to go.mod, so
// every provider package reads the same copy and nothing outside the
// repository.
func VectorDir(t testing.TB, elem ...string) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("test vectors: %v", err)
	}
	root := wd
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			t.Fatal("test vectors: no go.mod above the working directory")
		}
		root = parent
	}
	abs := filepath.Join(append([]string{root, "signer", "testdata", "vectors"}, elem...)...)
	rel, err := filepath.Rel(wd, abs)
	if err != nil {
		t.Fatalf("test vectors: %v", err)
	}
	if _, err := os.Stat(rel); err != nil {
		t.Fatalf("test vectors: %v", err)
	}
	return rel
}

// WantCases fails t unless a loop over vectors ran exactly want of them
// (ran counts the subtests that reached their end), so a loop whose cases
// all became skips, or a vector file that lost cases, cannot pass. With
// -run or -skip selecting subtests the count means nothing, and is only
// logged.
func WantCases(t testing.TB, what string, ran, want int) {
	t.Helper()
	if subtestsFiltered() {
		t.Logf("%d %s ran (subtests filtered; %d in a full run)", ran, what, want)
		return
	}
	if ran != want {
		t.Errorf("%d %s ran, want %d", ran, what, want)
		return
	}
	t.Logf("%d %s ran", ran, what)
}

// subtestsFiltered says whether -test.run names a subtest level or
// -test.skip is set.
func subtestsFiltered() bool {
	if f := flag.Lookup("test.skip"); f != nil && f.Value.String() != "" {
		return true
	}
	f := flag.Lookup("test.run")
	return f != nil && strings.Contains(f.Value.String(), "/")
}
