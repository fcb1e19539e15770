package bundles_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/open-policy-agent/opa/v1/bundle"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/bundles"
	"github.com/signgate/signgate/bundles/bundletest"
)

// replaceFile swaps path's content at once, as a deploy tool that renames
// a finished file into place does.
func replaceFile(t *testing.T, path string, body []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, body, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestServiceFollowsAFileResource: a bundle archive named by a file://
// resource is read with OPA's bundle reader and verified; a new archive
// replaces it; a tampered one is refused and the last good keeps deciding.
func TestServiceFollowsAFileResource(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bundle.tar.gz")
	key := bundletest.NewKey(t, "policy-signer")
	replaceFile(t, path, bundletest.Tarball(t, bundletest.Policy(60), "r1", key))

	cfg := fmt.Sprintf(`{"bundles": {"signgate": {"resource": "file://%s",
		"polling": {"min_delay_seconds": 1, "max_delay_seconds": 1}}}}`, path)
	e := authz.New()
	svc, err := bundles.NewService(e, []byte(cfg), bundles.WithVerification(key.Verification(t, "")))
	if err != nil {
		t.Fatal(err)
	}
	if svc.Source() != "file:"+path {
		t.Errorf("source %q", svc.Source())
	}
	svc.Start(context.Background())
	defer svc.Stop(context.Background())
	waitForReport(t, e, "the archive on disk", func(r authz.Report) bool {
		return r.Active.Revision == "r1" && r.Active.SigningKeyID == "policy-signer"
	})
	wantTTL(t, e, 60)

	replaceFile(t, path, bundletest.Tarball(t, bundletest.Policy(120), "r2", key))
	waitForReport(t, e, "the new archive", func(r authz.Report) bool { return r.Active.Revision == "r2" })
	wantTTL(t, e, 120)

	tampered := bundletest.Build(t, bundletest.Policy(3600), "r3", key)
	tampered.Data["ttl"] = 86400
	var buf bytes.Buffer
	if err := bundle.NewWriter(&buf).Write(*tampered); err != nil {
		t.Fatal(err)
	}
	replaceFile(t, path, buf.Bytes())
	waitForReport(t, e, "the tampered archive to be refused", func(r authz.Report) bool {
		return r.LastError != nil && r.LastError.Stage == authz.StageVerify
	})
	if r := e.Report(); r.Active.Revision != "r2" || r.Activations != 2 {
		t.Fatalf("after the tampered archive: active %q after %d activations, want r2 after 2", r.Active.Revision, r.Activations)
	}
	wantTTL(t, e, 120)

	// A missing file is a refused check; the last good revision stays.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitForReport(t, e, "the missing file to be reported", func(r authz.Report) bool {
		return r.LastError != nil && r.LastError.Stage == authz.StageRead
	})
	wantTTL(t, e, 120)
}
