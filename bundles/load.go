package bundles

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/bundle"
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
func loadDir(dir string, c loadConfig) (*bundle.Bundle, Stage, error) {
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
		stage := StageRead
		if _, rerr := read(true); rerr == nil {
			stage = StageVerify
		}
		return nil, stage, fmt.Errorf("bundles: read bundle directory %s: %w", dir, err)
	}
	return &b, "", nil
}

// SigningKeyID names the key that verified b's signature: the key id that
// vc names (OPA then ignores the token's), otherwise the token's "kid"
// header, otherwise its deprecated "keyid" claim. It is empty for an
// unsigned bundle.
func SigningKeyID(b *bundle.Bundle, vc *bundle.VerificationConfig) string {
	if len(b.Signatures.Signatures) == 0 {
		return ""
	}
	if vc != nil && vc.KeyID != "" {
		return vc.KeyID
	}
	parts := strings.Split(b.Signatures.Signatures[0], ".")
	if len(parts) != 3 {
		return ""
	}
	var hdr struct {
		KID string `json:"kid"`
	}
	var claims struct {
		KeyID string `json:"keyid"`
	}
	if raw, err := base64.RawURLEncoding.DecodeString(parts[0]); err == nil && json.Unmarshal(raw, &hdr) == nil && hdr.KID != "" {
		return hdr.KID
	}
	if raw, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil && json.Unmarshal(raw, &claims) == nil {
		return claims.KeyID
	}
	return ""
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
