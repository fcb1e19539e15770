// Package e2e proves signgate's URLs against real storage servers: it
// builds and starts the signgate binary, asks it for URLs over HTTP, and
// uses them on versitygw (S3), fake-gcs-server behind a verifying proxy
// (GCS) and Azurite (Azure Blob). The cases and their results form the
// matrix printed at the end of the run.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signgate/signgate/tests/storage"
)

// suite is set up once by TestMain and read by every test.
var suite struct {
	skip     string // why the whole suite cannot run; empty when it can
	signgate string // base URL of the running signgate
	servers  *storage.Servers
	keys     map[string]string // subject -> raw API key
	inputs   []string          // files the signgate binary is built from

	// What a test needs to start another signgate, and where every
	// signgate of the run writes its records and its log.
	dir, bin, policyDir, saFile string
	env                         []string
}

func TestMain(m *testing.M) {
	start := time.Now()
	code, cleanup := setUp(m)
	cleanup()
	printMatrix(os.Stdout)
	// go test shows a passing package's output only with -v; this is the
	// other way to get the matrix, e.g. for docs/testing.md.
	if path := os.Getenv("SIGNGATE_E2E_MATRIX"); path != "" {
		var b strings.Builder
		printMatrix(&b)
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: SIGNGATE_E2E_MATRIX: %v\n", err)
		}
	}
	fmt.Printf("e2e: finished in %s\n", time.Since(start).Round(100*time.Millisecond))
	os.Exit(code)
}

// setUp starts everything and runs the tests. It returns the exit code and
// a function that stops what was started, whatever happened.
func setUp(m *testing.M) (int, func()) {
	ctx := context.Background()
	var stops []func()
	cleanup := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	fail := func(err error) (int, func()) {
		fmt.Fprintf(os.Stderr, "e2e: set-up failed: %v\n", err)
		for _, p := range providers {
			for _, c := range cases {
				setCell(c.row, p.name, "FAIL (set-up failed, see the log)")
			}
		}
		return 1, cleanup
	}

	if _, err := storage.Required(); err != nil {
		return fail(err)
	}
	root, err := storage.RepoRoot()
	if err != nil {
		return fail(err)
	}
	dir, err := os.MkdirTemp("", "signgate-e2e-")
	if err != nil {
		return fail(err)
	}
	suite.dir = dir
	stops = append(stops, func() { os.RemoveAll(dir) })

	t0 := time.Now()
	if suite.bin, err = storage.BuildSigngate(dir); err != nil {
		return fail(err)
	}
	fmt.Printf("e2e: built signgate in %s\n", time.Since(t0).Round(100*time.Millisecond))
	if suite.inputs, err = binaryInputs(root); err != nil {
		return fail(err)
	}

	t0 = time.Now()
	sa, err := storage.NewServiceAccount("signgate-e2e@signgate-e2e.iam.gserviceaccount.com")
	if err != nil {
		return fail(err)
	}
	suite.servers = storage.StartAll(ctx, storage.Config{
		Dir: dir, S3AccessKey: s3AccessKey, S3SecretKey: s3SecretKey, ServiceAccount: sa,
	})
	stops = append(stops, suite.servers.Stop)
	for _, err := range []error{suite.servers.S3Err, suite.servers.AzureErr, suite.servers.GCSErr} {
		switch {
		case storage.IsNotInstalled(err):
			fmt.Fprintf(os.Stderr, "\n*** %v ***\n\n", err)
		case err != nil:
			return fail(err)
		}
	}
	if err := createBuckets(ctx, suite.servers); err != nil {
		return fail(err)
	}
	fmt.Printf("e2e: storage servers ready in %s\n", time.Since(t0).Round(100*time.Millisecond))

	t0 = time.Now()
	sg, err := startSigngate(ctx, root, dir, suite.bin, sa)
	if err != nil {
		return fail(err)
	}
	stops = append(stops, sg.Stop)
	fmt.Printf("e2e: signgate ready in %s\n", time.Since(t0).Round(100*time.Millisecond))
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "e2e: the end of signgate's output:\n%s\n", sg.Output())
	}
	// SIGTERM flushes signgate's records; then every record and log line
	// of the run is checked for what must never be in them.
	httpClient.CloseIdleConnections() // or Shutdown waits 5 s for them
	sg.Stop()
	problems := checkRecordsAndLogs(dir, testSecrets(sa))
	if err := sg.Wait(); err != nil {
		problems = append(problems, fmt.Sprintf("signgate did not exit cleanly on SIGTERM: %v", err))
	}
	if len(problems) > 0 {
		fmt.Fprintf(os.Stderr, "--- FAIL: e2e records and logs:\n  %s\n", strings.Join(problems, "\n  "))
		code = 1
	}
	return code, cleanup
}

// binaryInputs lists every file and package directory of this module that
// went into the signgate binary, and go.mod and go.sum.
func binaryInputs(root string) ([]string, error) {
	list := exec.Command("go", "list", "-deps", "-f",
		`{{if .Module}}{{if eq .Module.Path "github.com/signgate/signgate"}}{{.Dir}}|{{join .GoFiles ","}},{{join .EmbedFiles ","}}{{end}}{{end}}`,
		"github.com/signgate/signgate/cmd/signgate")
	list.Dir = root
	out, err := list.Output()
	if err != nil {
		return nil, fmt.Errorf("go list ./cmd/signgate: %w", err)
	}
	files := []string{filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum")}
	for line := range strings.Lines(string(out)) {
		dir, names, _ := strings.Cut(strings.TrimSpace(line), "|")
		files = append(files, dir) // an opened directory stands for its listing
		for name := range strings.SplitSeq(names, ",") {
			if name != "" {
				files = append(files, filepath.Join(dir, name))
			}
		}
	}
	return files, nil
}

// trackInputs opens, from inside a test, every file the run depends on
// beyond this package's own code: the sources of the signgate binary, the
// policy, and the storage servers' programs. go test caches a passing
// run keyed on what the tests opened (TestMain is not watched); the binary
// is built by a child process, so without this a change to server/ or
// policies/ would replay a stale "ok".
func trackInputs() {
	for _, path := range append(suite.inputs, storage.Binaries()...) {
		if f, err := os.Open(path); err == nil {
			f.Close()
		}
	}
}
