package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signgate/signgate/internal/devenv"
	"github.com/signgate/signgate/tests/storage"
)

// devKey is the fixed dev API key the dev signgate is started with, through
// $SIGNGATE_DEV_KEY (cmd/signgate tests --dev-key).
const devKey = "sgdev-e2e-fixed-key-0123456789"

// TestDevStack follows the README's quick start: `go run ./tests/devstack`
// (here its binary, on free ports instead of the dev ports), then
// `signgate serve --dev` pointed at it with a fixed key, then the README's
// sign request for one team per provider. Each write URL uploads bytes and
// the README's read URL downloads the same bytes. SIGTERM then stops the
// dev stack and every emulator it started.
func TestDevStack(t *testing.T) {
	var serverErr error
	if suite.servers != nil {
		serverErr = errors.Join(suite.servers.S3Err, suite.servers.GCSErr, suite.servers.AzureErr)
	}
	needServer(t, serverErr) // the e2e skip: the dev stack runs the same emulators
	root, err := storage.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	trackDevStackSources(t, root)
	ctx := t.Context()

	bin := filepath.Join(suite.dir, "devstack")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./tests/devstack")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./tests/devstack: %v\n%s", err, out)
	}

	stack, ep := startDevStack(t, ctx, root, bin)
	base := startDevSigngate(t, ctx, ep)

	for _, tc := range []struct {
		givenTeam    string
		wantProvider string
		wantURLOn    string
	}{
		{"vision", "s3", ep.S3 + "/" + devenv.VisionBucket + "/vision/"},
		{"nlp", "gcs", ep.GCS + "/" + devenv.NLPBucket + "/nlp/"},
		{"web", "azure", ep.Azure + "/" + devenv.WebContainer + "/web/"},
	} {
		t.Run(tc.givenTeam+" URLs upload and download on "+tc.wantProvider, func(t *testing.T) {
			// The README's request, as a write and as itself.
			req := signRequest{Team: tc.givenTeam, Operation: "write", Object: "runs/42/model.pt", ExpiresIn: 900}
			data := []byte("model weights for " + tc.givenTeam + " " + randomHex(8))

			w := devSign(t, base, req)
			if w.Provider != tc.wantProvider || !strings.HasPrefix(w.URL, tc.wantURLOn) {
				t.Fatalf("write: provider %s, url %s; want %s on %s", w.Provider, w.URL, tc.wantProvider, tc.wantURLOn)
			}
			wantOK(t, "write URL", use(t, w.Method, w.URL, w.Headers, data))

			req.Operation = "read"
			r := devSign(t, base, req)
			got := use(t, r.Method, r.URL, r.Headers, nil)
			wantOK(t, "read URL", got)
			if !bytes.Equal(got.body, data) {
				t.Fatalf("read URL gave %q, want the %d bytes written: %q", got.body, len(data), data)
			}
			noSecretsInDevLog(t, w.URL, r.URL)
		})
	}

	// SIGTERM, as Ctrl-C's SIGINT, stops the dev stack and its emulators.
	stack.Stop()
	if err := stack.Wait(); err != nil {
		t.Errorf("devstack did not exit cleanly on SIGTERM: %v\n%s", err, stack.Output())
	}
	for _, u := range []string{ep.S3, ep.GCS, ep.Azure} {
		host := strings.TrimPrefix(u, "http://")
		host, _, _ = strings.Cut(host, "/")
		if c, err := net.DialTimeout("tcp", host, time.Second); err == nil {
			c.Close()
			t.Errorf("an emulator still listens on %s after the dev stack stopped", host)
		}
	}
}

// startDevStack runs the dev stack binary on three free ports and waits for
// its "devstack: ready" line, which it prints once the buckets exist.
func startDevStack(t *testing.T, ctx context.Context, root, bin string) (*storage.Process, devenv.Endpoints) {
	t.Helper()
	var ep devenv.Endpoints
	argv := func(s3Port int) []string {
		gcsPort, err1 := storage.FreePort()
		azurePort, err2 := storage.FreePort()
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		ep = devenv.EndpointsAt(s3Port, gcsPort, azurePort)
		return []string{bin, "-C", root, "--s3-port", fmt.Sprint(s3Port), "--gcs-port", fmt.Sprint(gcsPort), "--azure-port", fmt.Sprint(azurePort)}
	}
	ready := func(context.Context, int) error {
		b, _ := os.ReadFile(storage.LogPath(suite.dir, "devstack"))
		if !bytes.Contains(b, []byte("devstack: ready")) {
			return errors.New("no ready line yet")
		}
		return nil
	}
	// Each try writes its own output, so an old ready line cannot count.
	os.Remove(storage.LogPath(suite.dir, "devstack"))
	p, _, err := storage.StartServer(ctx, "devstack", suite.dir, nil, argv, ready)
	if err != nil {
		t.Fatalf("devstack: %v", err)
	}
	t.Cleanup(p.Stop)
	out, _ := os.ReadFile(storage.LogPath(suite.dir, "devstack"))
	for _, want := range []string{ep.S3, ep.GCS, ep.Azure, "--dev-s3-endpoint " + ep.S3} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("devstack's output does not show %q:\n%s", want, out)
		}
	}
	return p, ep
}

// startDevSigngate runs `signgate serve --dev` on a free port against the
// dev stack, with the fixed key from $SIGNGATE_DEV_KEY.
func startDevSigngate(t *testing.T, ctx context.Context, ep devenv.Endpoints) string {
	t.Helper()
	var base string
	argv := func(port int) []string {
		return []string{suite.bin, "serve", "--dev", "--listen", fmt.Sprintf("127.0.0.1:%d", port),
			"--dev-s3-endpoint", ep.S3, "--dev-gcs-endpoint", ep.GCS, "--dev-azure-endpoint", ep.Azure}
	}
	ready := func(ctx context.Context, port int) error {
		base = fmt.Sprintf("http://127.0.0.1:%d", port)
		return getOK(ctx, base+"/readyz")
	}
	// Not signgate*.log: the dev help text shows a curl with "Bearer ",
	// which the run-wide scan of signgate's logs refuses.
	p, _, err := storage.StartServer(ctx, "dev-signgate", suite.dir, []string{"SIGNGATE_DEV_KEY=" + devKey}, argv, ready)
	if err != nil {
		t.Fatalf("signgate serve --dev: %v", err)
	}
	t.Cleanup(func() {
		httpClient.CloseIdleConnections()
		p.Stop()
	})
	return base
}

// devSign asks the dev signgate for a URL with the fixed dev key.
func devSign(t *testing.T, base string, req signRequest) signed {
	t.Helper()
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/v1/sign", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Authorization", "Bearer "+devKey)
	hr.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var s signed
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &s) != nil || s.URL == "" {
		t.Fatalf("POST /v1/sign %s: status %d, body %s; want 200 with a URL", body, resp.StatusCode, b)
	}
	return s
}

// noSecretsInDevLog checks that the dev signgate's output holds neither the
// fixed key nor the signatures of the URLs it gave.
func noSecretsInDevLog(t *testing.T, urls ...string) {
	t.Helper()
	b, err := os.ReadFile(storage.LogPath(suite.dir, "dev-signgate"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(devKey)) {
		t.Error("the dev signgate's output holds the fixed dev key")
	}
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		for _, p := range []string{"X-Amz-Signature", "X-Goog-Signature", "sig"} {
			if sig := q.Get(p); sig != "" && bytes.Contains(b, []byte(sig)) {
				t.Errorf("the dev signgate's output holds the signature %s…", sig[:8])
			}
		}
	}
}

// trackDevStackSources opens the dev stack's sources, as trackInputs does
// for signgate's: its binary is built by a child process.
func trackDevStackSources(t *testing.T, root string) {
	t.Helper()
	trackInputs()
	files, _ := filepath.Glob(filepath.Join(root, "tests", "devstack", "*.go"))
	if len(files) == 0 {
		t.Fatal("no sources in tests/devstack")
	}
	for _, f := range append(files, filepath.Join(root, "tests", "devstack")) {
		if fh, err := os.Open(f); err == nil {
			fh.Close()
		}
	}
}
