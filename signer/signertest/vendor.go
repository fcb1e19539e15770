package signertest

import (
	"os"
	"path/filepath"
	"testing"
)

// VendorDir returns shared/testdata/vendor/<elem...>, where the vendored
// test vectors live, next to the module and never inside it, as a path
// relative to the test's working directory (e.g. ../../../shared/...). It
// finds the module root by walking up to the directory holding go.mod.
func VendorDir(t testing.TB, elem ...string) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("vendored vectors: %v", err)
	}
	root := wd
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			t.Fatal("vendored vectors: no go.mod above the working directory")
		}
		root = parent
	}
	// The vectors live in shared/testdata/vendor beside the project
	// (../shared from the repository root); SIGNGATE_VENDOR_DIR overrides.
	base := filepath.Join(root, "..", "shared", "testdata", "vendor")
	if dir := os.Getenv("SIGNGATE_VENDOR_DIR"); dir != "" {
		base = dir
	}
	abs := filepath.Join(append([]string{base}, elem...)...)
	rel, err := filepath.Rel(wd, abs)
	if err != nil {
		t.Fatalf("vendored vectors: %v", err)
	}
	if _, err := os.Stat(rel); err != nil {
		t.Fatalf("vendored vectors: %v (they are read from ../shared/testdata/vendor beside the repository, or from $SIGNGATE_VENDOR_DIR)", err)
	}
	return rel
}
