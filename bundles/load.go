// Package bundles owns where policy revisions come from: the bundle embedded
// in the binary, a watched directory, and what OPA's bundle configuration
// names (a bundle service, an OCI registry or a file:// archive). It reads
// and verifies bundles and hands each one to the authz engine, which
// compiles, probes and activates it.
package bundles

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/plugins"

	"github.com/signgate/signgate/authz"
)

// skipTests leaves *_test.rego out of a served bundle: tests belong to CI,
// not to the decision path.
func skipTests(abspath string, info fs.FileInfo, _ int) bool {
	return !info.IsDir() && strings.HasSuffix(info.Name(), "_test.rego")
}

// skipDirEntry also leaves out hidden directories (.git) and the "..name"
// entries of a Kubernetes volume, whose files are reached through the
// symlinks beside them.
func skipDirEntry(root string) func(string, fs.FileInfo, int) bool {
	return func(abspath string, info fs.FileInfo, depth int) bool {
		name := info.Name()
		switch {
		case strings.HasPrefix(name, ".."):
			return true
		case info.IsDir():
			return strings.HasPrefix(name, ".") && filepath.Clean(abspath) != filepath.Clean(root)
		}
		return skipTests(abspath, info, depth)
	}
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

// LoadOption configures how bundles are read and watched.
type LoadOption func(*loadConfig)

type loadConfig struct {
	verify   *bundle.VerificationConfig
	debounce time.Duration
	mgr      *plugins.Manager // NewService: the process's plugin manager
}

func newLoadConfig(opts []LoadOption) loadConfig {
	c := loadConfig{debounce: 250 * time.Millisecond}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithVerification requires every bundle to carry a valid signature
// (.signatures.json) made with one of vc's keys, within its scope. Build vc
// with bundle.NewVerificationConfig: a signature is then required, never
// optional.
func WithVerification(vc *bundle.VerificationConfig) LoadOption {
	return func(c *loadConfig) { c.verify = vc }
}

// LoadDir reads an OPA bundle directory: Rego, data.json or data.yaml
// files, and an optional .manifest and .signatures.json. Symlinks are
// followed; *_test.rego files and hidden directories are not read.
func LoadDir(dir string, opts ...LoadOption) (*bundle.Bundle, error) {
	b, _, err := loadDir(dir, newLoadConfig(opts))
	return b, err
}

// loadDir is LoadDir that also says which stage failed.
func loadDir(dir string, c loadConfig) (*bundle.Bundle, authz.Stage, error) {
	read := func(skipVerify bool) (bundle.Bundle, error) {
		loader := bundle.NewDirectoryLoader(dir).WithFilter(skipDirEntry(dir)).WithFollowSymlinks(true)
		// Without a verification config OPA still refuses a signed bundle
		// ("verification key not provided"), so nothing unverified ever
		// passes for signed.
		return bundle.NewCustomReader(loader).WithProcessAnnotations(true).
			WithBundleVerificationConfig(c.verify).WithSkipBundleVerification(skipVerify).Read()
	}
	b, err := read(false)
	if err != nil {
		// Tell a bad signature from a bad bundle by reading it again without
		// verification. This only labels the failure.
		stage := authz.StageRead
		if _, rerr := read(true); rerr == nil {
			stage = authz.StageVerify
		}
		return nil, stage, fmt.Errorf("bundles: read bundle directory %s: %w", dir, err)
	}
	return &b, "", nil
}
