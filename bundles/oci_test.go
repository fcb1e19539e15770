package bundles_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/bundle"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/bundles"
	"github.com/signgate/signgate/bundles/bundletest"
	"github.com/signgate/signgate/tests/storage"
)

// startRegistry runs the CNCF distribution registry (bin/registry, built
// from deploy/tools/registry by deploy/ci-check.sh) on a free port of
// 127.0.0.1 and returns its host:port.
func startRegistry(t *testing.T) string {
	t.Helper()
	root, err := storage.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "bin", "registry")
	if info, err := os.Stat(bin); err != nil || info.Mode()&0o111 == 0 {
		storage.SkipOrFail(t, "SKIPPED: the distribution registry is not installed at "+bin+
			"; run deploy/ci-check.sh, or: cd deploy/tools/registry && go build -o ../../../bin/registry github.com/distribution/distribution/v3/cmd/registry")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, port, err := storage.StartServer(ctx, "registry", dir, nil,
		func(port int) []string {
			cfg := filepath.Join(dir, fmt.Sprintf("config-%d.yml", port))
			body := fmt.Sprintf("version: 0.1\nlog: {level: warn}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: 127.0.0.1:%d}\n",
				filepath.Join(dir, "data"), port)
			if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			return []string{bin, "serve", cfg}
		},
		func(ctx context.Context, port int) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/v2/", port), nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET /v2/: %s", resp.Status)
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// pushBundle pushes a bundle archive as the one gzip layer of an OCI
// artifact tagged tag, as `oras push` does.
func pushBundle(t *testing.T, repoRef, tag string, tarball []byte) {
	t.Helper()
	ctx := context.Background()
	store := memory.New()
	layer := content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayerGzip, tarball)
	if err := store.Push(ctx, layer, bytes.NewReader(tarball)); err != nil {
		t.Fatal(err)
	}
	manifest, err := oras.PackManifest(ctx, store, oras.PackManifestVersion1_1, "application/vnd.openpolicyagent.bundle",
		oras.PackManifestOptions{Layers: []ocispec.Descriptor{layer}})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Tag(ctx, manifest, tag); err != nil {
		t.Fatal(err)
	}
	repo, err := remote.NewRepository(repoRef)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	if _, err := oras.Copy(ctx, store, tag, repo, tag, oras.DefaultCopyOptions); err != nil {
		t.Fatalf("push %s:%s: %v", repoRef, tag, err)
	}
}

// TestServiceFollowsAnOCIRegistry: a signed bundle pushed to a real
// registry is pulled by OPA's OCI downloader and activated; a new revision
// replaces it; a tampered one is refused and the last good keeps deciding.
func TestServiceFollowsAnOCIRegistry(t *testing.T) {
	host := startRegistry(t)
	repoRef := host + "/acme/signgate-policy"
	key := bundletest.NewKey(t, "policy-signer")
	pushBundle(t, repoRef, "prod", bundletest.Tarball(t, bundletest.Policy(60), "r1", key))

	cfg := fmt.Sprintf(`{"services": {"registry": {"url": "http://%s", "type": "oci"}},
		"bundles": {"signgate": {"service": "registry", "resource": "%s:prod",
			"polling": {"min_delay_seconds": 1, "max_delay_seconds": 1}}}}`, host, repoRef)
	e := authz.New()
	svc, err := bundles.NewService(e, []byte(cfg), bundles.WithVerification(key.Verification(t, "")))
	if err != nil {
		t.Fatal(err)
	}
	if want := "oci:" + repoRef + ":prod"; svc.Source() != want {
		t.Errorf("source %q, want %q", svc.Source(), want)
	}
	svc.Start(context.Background())
	defer svc.Stop(context.Background())

	waitForReport(t, e, "the first revision from the registry", func(r authz.Report) bool {
		return r.Active.Revision == "r1" && r.Active.SigningKeyID == "policy-signer" && r.Active.Source == svc.Source()
	})
	wantTTL(t, e, 60)

	pushBundle(t, repoRef, "prod", bundletest.Tarball(t, bundletest.Policy(120), "r2", key))
	waitForReport(t, e, "the second revision", func(r authz.Report) bool { return r.Active.Revision == "r2" })
	wantTTL(t, e, 120)

	// Tampered: signed as r3, then its data changed after signing.
	tampered := bundletest.Build(t, bundletest.Policy(3600), "r3", key)
	tampered.Data["ttl"] = 86400
	var buf bytes.Buffer
	if err := bundle.NewWriter(&buf).Write(*tampered); err != nil {
		t.Fatal(err)
	}
	pushBundle(t, repoRef, "prod", buf.Bytes())
	waitForReport(t, e, "the tampered revision to be refused", func(r authz.Report) bool {
		return r.LastError != nil && r.LastError.Stage == authz.StageVerify
	})
	if r := e.Report(); r.Active.Revision != "r2" || r.Activations != 2 {
		t.Fatalf("after the tampered bundle: active %q after %d activations, want r2 after 2", r.Active.Revision, r.Activations)
	}
	wantTTL(t, e, 120)

	// Unsigned: refused the same way.
	pushBundle(t, repoRef, "prod", bundletest.Tarball(t, bundletest.Policy(7200), "r4", nil))
	waitForReport(t, e, "the unsigned revision to be refused", func(r authz.Report) bool {
		return r.LastError != nil && r.LastError.Stage == authz.StageVerify && r.Failures[authz.StageVerify] >= 2
	})
	wantTTL(t, e, 120)
}

func wantTTL(t *testing.T, e *authz.Engine, want int64) {
	t.Helper()
	d, err := e.Decide(context.Background(), vision("read"))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Allow || d.TTLSeconds() != want {
		t.Fatalf("decision allow=%v ttl=%d, want allow with ttl %d", d.Allow, d.TTLSeconds(), want)
	}
}

func TestNewServiceOCIStoreIsRemovedOnStop(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	svc, err := bundles.NewService(authz.New(), []byte(`{"services": {"r": {"url": "http://127.0.0.1:1", "type": "oci"}},
		"bundles": {"b": {"service": "r", "resource": "127.0.0.1:1/x/y:z"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), "signgate-oci-") {
		t.Fatalf("TMPDIR holds %v, want one signgate-oci-* store", entries)
	}
	svc.Stop(context.Background())
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Fatalf("after Stop TMPDIR holds %v", entries)
	}
}
