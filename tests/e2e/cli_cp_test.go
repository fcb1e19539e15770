package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// signgate url and signgate cp, the built binary, against the running
// signgate and the storage servers.

func cliEnv(subject string) []string {
	return append(os.Environ(), "SIGNGATE_URL="+suite.signgate, "SIGNGATE_KEY="+suite.keys[subject])
}

type cliRun struct {
	code           int
	stdout, stderr string
}

// runCLI runs the signgate binary with its output on pipes.
func runCLI(t *testing.T, subject string, args ...string) cliRun {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), suite.bin, args...)
	cmd.Env = cliEnv(subject)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := cliRun{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("signgate %v: %v", args, err)
	}
	return r
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var barRE = regexp.MustCompile(`100%.*\|`)

func TestCLICopyThroughAPipeShowsNoBar(t *testing.T) {
	needServer(t, suite.servers.S3Err)
	t.Parallel()
	data := randomData(t, 12<<20+3)
	src := writeFile(t, data)
	obj := object("cli.bin")
	r := runCLI(t, "alice", "cp", src, "vision:"+obj, "--parallel", "3", "--part-size", "5MiB")
	if r.code != 0 || !strings.Contains(r.stdout, "in 3 parts") {
		t.Fatalf("cp upload: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, "\r") || barRE.MatchString(r.stderr) {
		t.Errorf("a progress bar was drawn on a pipe: %q", r.stderr)
	}
	wantStored(t, providerNamed("s3"), "acme-vision", "vision/"+obj, data)

	dst := filepath.Join(t.TempDir(), "back.bin")
	r = runCLI(t, "alice", "cp", "vision:"+obj, dst, "--part-size", "5MiB")
	if r.code != 0 {
		t.Fatalf("cp download: exit %d: %s", r.code, r.stderr)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) {
		t.Fatalf("downloaded %d bytes that differ from the %d uploaded", len(got), len(data))
	}

	r = runCLI(t, "alice", "cp", src, "vision:"+object("dry.bin"), "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "would upload") || !strings.Contains(r.stdout, "flow s3_multipart: 2 parts") {
		t.Fatalf("cp --dry-run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	r = runCLI(t, "bob", "cp", src, "audio:"+object("no.bin"))
	if r.code != 1 || !strings.Contains(r.stderr, "403 denied") || !strings.Contains(r.stderr, "[decision ") {
		t.Fatalf("cp denied: exit %d, stderr %q; want 1 and the denial with its decision", r.code, r.stderr)
	}
	if r := runCLI(t, "alice", "cp", src); r.code != 2 {
		t.Fatalf("cp with one argument: exit %d, want 2", r.code)
	}
}

func TestCLICopyOnATerminalShowsABar(t *testing.T) {
	needServer(t, suite.servers.S3Err)
	t.Parallel()
	data := randomData(t, 12<<20)
	src := writeFile(t, data)
	obj := object("tty.bin")
	cmd := exec.CommandContext(t.Context(), suite.bin, "cp", src, "vision:"+obj, "--part-size", "5MiB")
	cmd.Env = cliEnv("alice")
	tty, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() { _, _ = io.Copy(&out, tty); close(copied) }() // ends with EIO when the child exits
	if err := cmd.Wait(); err != nil {
		t.Fatalf("cp on a terminal: %v\n%s", err, out.String())
	}
	<-copied
	if !barRE.MatchString(out.String()) || !strings.Contains(out.String(), "\r") {
		t.Fatalf("no progress bar on a terminal: %q", out.String())
	}
	wantStored(t, providerNamed("s3"), "acme-vision", "vision/"+obj, data)
	if r := runCLI(t, "alice", "cp", src, "vision:"+object("quiet.bin"), "--quiet"); r.code != 0 || r.stderr != "" {
		t.Fatalf("--quiet: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestCLIResumesAKilledCopy(t *testing.T) {
	needServer(t, suite.servers.AzureErr)
	t.Parallel()
	data := randomData(t, 100<<20)
	src := writeFile(t, data)
	obj := object("killed.bin")
	args := []string{"cp", src, "web:" + obj, "--parallel", "1", "--part-size", "5MiB", "--resume"}
	cmd := exec.Command(suite.bin, args...)
	cmd.Env = cliEnv("alice")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	state := src + ".signgate-state.json"
	deadline := time.Now().Add(30 * time.Second)
	for {
		var st struct {
			Done map[string]string `json:"done"`
		}
		if b, err := os.ReadFile(state); err == nil && json.Unmarshal(b, &st) == nil && len(st.Done) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("no part stored within 30 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("the copy finished before it was killed; nothing to resume")
	}
	r := runCLI(t, "alice", args...)
	m := regexp.MustCompile(`in 20 parts \((\d+) resumed\)`).FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil || m[1] == "0" {
		t.Fatalf("resumed cp: exit %d\nstdout %s\nstderr %s; want some of the 20 parts resumed", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the state file is left after a finished copy: %v", err)
	}
	wantStored(t, providerNamed("azure"), "acme-web", "web/"+obj, data)
	t.Logf("killed (SIGKILL) after 2+ parts; the second run resumed %s of 20 parts", m[1])
}

func TestCLIURL(t *testing.T) {
	needServer(t, suite.servers.S3Err)
	t.Parallel()
	obj := object("url.txt")
	seed(t, providerNamed("s3"), teamByName("vision"), obj, []byte("hello"))
	r := runCLI(t, "alice", "url", "vision:"+obj, "--expires", "5m")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("url: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	resp, err := http.Get(strings.TrimSpace(r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(b) != "hello" {
		t.Fatalf("GET the printed URL: %d %q", resp.StatusCode, b)
	}
	if r := runCLI(t, "bob", "url", "vision:"+obj); r.code != 1 || !strings.Contains(r.stderr, "denied") {
		t.Fatalf("url denied: exit %d, stderr %q", r.code, r.stderr)
	}
}
