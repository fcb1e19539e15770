package bundles

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/bundle"
)

// skipTests leaves *_test.rego out of a served bundle: tests belong to CI,
// not to the decision path.
func skipTests(abspath string, info fs.FileInfo, _ int) bool {
	return !info.IsDir() && strings.HasSuffix(info.Name(), "_test.rego")
}

// LoadFS reads an OPA bundle from fsys, such as the embedded policies.
func LoadFS(fsys fs.FS) (*bundle.Bundle, error) {
	loader, err := bundle.NewFSLoader(fsys)
	if err != nil {
		return nil, err
	}
	b, err := bundle.NewCustomReader(loader.WithFilter(skipTests)).Read()
	if err != nil {
		return nil, fmt.Errorf("bundles: read embedded bundle: %w", err)
	}
	return &b, nil
}

// LoadDir reads an OPA bundle directory: Rego, data.json or data.yaml
// files, and an optional .manifest.
func LoadDir(dir string) (*bundle.Bundle, error) {
	loader := bundle.NewDirectoryLoader(dir).WithFilter(skipTests)
	b, err := bundle.NewCustomReader(loader).Read()
	if err != nil {
		return nil, fmt.Errorf("bundles: read bundle directory %s: %w", dir, err)
	}
	return &b, nil
}

// Revision names a bundle: its manifest revision when set, otherwise a
// digest of its modules and data, so that two different policies never
// share a revision.
func Revision(b *bundle.Bundle) string {
	if b.Manifest.Revision != "" {
		return b.Manifest.Revision
	}
	h := sha256.New()
	mods := make([]bundle.ModuleFile, len(b.Modules))
	copy(mods, b.Modules)
	sort.Slice(mods, func(i, j int) bool { return mods[i].Path < mods[j].Path })
	for _, m := range mods {
		fmt.Fprintf(h, "%s\x00%d\x00", m.Path, len(m.Raw))
		h.Write(m.Raw)
	}
	fmt.Fprintf(h, "%v", b.Data) // fmt prints maps with sorted keys
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
}
