package bundles_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/bundles"
	"github.com/signgate/signgate/bundles/bundletest"
)

// TestWatchDirFollowsAKubernetesVolume lays the bundle out as a mounted
// ConfigMap or Secret is: the files live in a hidden, timestamped
// directory, "..data" links to it, and each file is a symlink through
// "..data". An update writes a new directory and swaps the "..data" link
// with one rename; the watcher must read the files once, through the
// links, and pick up the swap.
func TestWatchDirFollowsAKubernetesVolume(t *testing.T) {
	key := bundletest.NewKey(t, "ci")
	vol := t.TempDir()
	publish := func(version string, ttl int) {
		t.Helper()
		dir := filepath.Join(vol, "..2026_11_27_"+version)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		bundletest.WriteDir(t, dir, bundletest.Policy(ttl), version, key)
		tmp := filepath.Join(vol, "..data_tmp")
		if err := os.Symlink(filepath.Base(dir), tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(vol, "..data")); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"authz.rego", "data.json", ".manifest", ".signatures.json"} {
			link := filepath.Join(vol, name)
			if _, err := os.Lstat(link); err == nil {
				continue
			}
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish("v1", 60)
	e := authz.New()
	dw, err := bundles.WatchDir(context.Background(), e, vol,
		bundles.WithVerification(key.Verification(t, "")), bundles.WithDebounce(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer dw.Close()
	if st, _ := e.Status(); st.Revision != "v1" {
		t.Fatalf("first load: %+v", st)
	}
	publish("v2", 120)
	waitForReport(t, e, "revision v2", func(r authz.Report) bool { return r.Active.Revision == "v2" })
	if d, err := e.Decide(context.Background(), vision("read")); err != nil || d.TTL != 2*time.Minute {
		t.Fatalf("decision %+v, err %v", d, err)
	}
}
