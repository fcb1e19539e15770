// Package storage starts real blob-storage servers for signgate's tests:
// versitygw (S3), Azurite (Azure Blob) and fake-gcs-server behind a proxy
// that checks GOOG4-RSA-SHA256 signatures as Google does. Each server runs
// on 127.0.0.1 with a free port, is ready when Start returns, and is stopped
// by killing the process group this package started.
package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ErrNotInstalled is returned when a server's binary is missing. Tests
// skip on it, loudly, rather than fail: CI installs every server first.
var ErrNotInstalled = errors.New("not installed")

// startTimeout bounds how long a server may take to become ready.
const startTimeout = 60 * time.Second

// RepoRoot is the directory of the first go.mod above the working
// directory, which for a test in tests/... is the signgate repository.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("storage: no go.mod above the working directory")
		}
		dir = parent
	}
}

// BinDir is where the Go-built servers live: $SIGNGATE_TEST_BIN when set,
// else <repo>/tests/.bin (what .ci/run builds into).
func BinDir() (string, error) {
	if dir := os.Getenv("SIGNGATE_TEST_BIN"); dir != "" {
		return dir, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "tests", ".bin"), nil
}

// Binaries lists the paths where the servers' programs are looked for.
// A test (not TestMain, which go test does not watch) that opens them
// makes its cached result depend on them and on $SIGNGATE_TEST_BIN.
func Binaries() []string {
	var paths []string
	if bin, err := BinDir(); err == nil {
		paths = append(paths, filepath.Join(bin, "versitygw"), filepath.Join(bin, "fake-gcs-server"))
	}
	if root, err := RepoRoot(); err == nil {
		paths = append(paths, azuriteBinary(root))
	}
	return paths
}

// Installed checks that every server's program is installed, before any
// is started. Its error wraps ErrNotInstalled and names each missing path.
func Installed() error {
	bin, err := BinDir()
	if err != nil {
		return err
	}
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	var errs []error
	for _, b := range []struct{ path, name string }{
		{filepath.Join(bin, "versitygw"), "versitygw"},
		{filepath.Join(bin, "fake-gcs-server"), "fake-gcs-server"},
		{azuriteBinary(root), "azurite-blob"},
	} {
		if !isExecutable(b.path) {
			errs = append(errs, fmt.Errorf("%s %w at %s", b.name, ErrNotInstalled, b.path))
		}
	}
	return errors.Join(errs...)
}

// findBinary returns the path of an installed server binary, or an error
// wrapping ErrNotInstalled that tells how to install it.
func findBinary(path, name string) (string, error) {
	if !isExecutable(path) {
		return "", fmt.Errorf("SKIPPED: %s %w at %s; run .ci/run, or: %s",
			name, ErrNotInstalled, path, installHint(name))
	}
	return path, nil
}

func isExecutable(path string) bool {
	info, err := os.Stat(path)
	return err == nil && !info.IsDir() && info.Mode()&0o111 != 0
}

func installHint(name string) string {
	if name == "azurite-blob" {
		return "cd tests && npm ci"
	}
	return "cd tests/tools && go build -o ../.bin/ " +
		"github.com/versity/versitygw/cmd/versitygw github.com/fsouza/fake-gcs-server"
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// A server started on it may still lose a race; Start retries for that.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Process is a server this package started, in its own process group.
type Process struct {
	name string
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, valid after done
	stop sync.Once
}

// startProcess starts argv in a new process group, keeping the tail of its
// output for error messages. With a dir, the whole output is also appended
// to dir/NAME.log, for tests that read every line a server printed.
func startProcess(name, dir string, env []string, argv ...string) (*Process, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	out := &tailBuffer{max: 16 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	var logFile *os.File
	if dir != "" {
		f, err := os.OpenFile(LogPath(dir, name), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
		logFile = f
		w := io.MultiWriter(out, f)
		cmd.Stdout, cmd.Stderr = w, w
	}
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true, // Stop signals the whole group, children included
		// No orphans if the test binary dies (Linux; it fires when the
		// forking thread exits, which Go threads do not do in practice).
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		if logFile != nil {
			logFile.Close()
		}
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		if logFile != nil {
			logFile.Close()
		}
		close(p.done)
	}()
	return p, nil
}

// LogPath is where a process started in dir writes its whole output.
func LogPath(dir, name string) string { return filepath.Join(dir, name+".log") }

// Wait waits for the process to exit and returns how it exited.
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// PID is the process id, which is also its process group id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Output is the tail of what the process printed.
func (p *Process) Output() string { return p.out.String() }

// Stop sends SIGTERM to the process group, then SIGKILL after a grace
// period, and waits for the process to end.
func (p *Process) Stop() {
	p.stop.Do(func() {
		pgid := p.PID()
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
		}
		// No signal after the leader is reaped: its pid could be reused.
	})
}

// waitReady polls ready until it succeeds, the process exits, or the
// timeout passes. There is no fixed sleep: the poll interval is short.
func (p *Process) waitReady(ctx context.Context, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		last = ready(attempt)
		cancelAttempt()
		if last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v); output:\n%s", p.name, p.err, p.Output())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %v; output:\n%s", p.name, startTimeout, last, p.Output())
		case <-tick.C:
		}
	}
}

// StartServer starts argv(port) on a fresh free port, in dir, and waits
// until ready(port) succeeds, retrying on a new port when the process exits
// early (it may have lost the race for the port).
func StartServer(ctx context.Context, name, dir string, env []string,
	argv func(port int) []string, ready func(ctx context.Context, port int) error) (*Process, int, error) {
	return StartServerAt(ctx, name, dir, env, 0, argv, ready)
}

// StartServerAt is StartServer on a given port, or on a free one when port
// is 0. A given port must be free: otherwise ready could be answered by
// whatever already listens there.
func StartServerAt(ctx context.Context, name, dir string, env []string, port int,
	argv func(port int) []string, ready func(ctx context.Context, port int) error) (*Process, int, error) {
	if port != 0 {
		l, err := net.Listen("tcp", hostPort(port))
		if err != nil {
			return nil, 0, fmt.Errorf("%s: port %d is not free: %w", name, port, err)
		}
		l.Close()
		p, err := startProcess(name, dir, env, argv(port)...)
		if err != nil {
			return nil, 0, err
		}
		if err := p.waitReady(ctx, func(ctx context.Context) error { return ready(ctx, port) }); err != nil {
			p.Stop()
			return nil, 0, err
		}
		return p, port, nil
	}
	var err error
	for range 3 {
		var port int
		if port, err = FreePort(); err != nil {
			return nil, 0, err
		}
		var p *Process
		if p, err = startProcess(name, dir, env, argv(port)...); err != nil {
			return nil, 0, err
		}
		err = p.waitReady(ctx, func(ctx context.Context) error { return ready(ctx, port) })
		if err == nil {
			return p, port, nil
		}
		p.Stop()
		select {
		case <-p.done:
			if ctx.Err() == nil {
				continue // exited early: try another port
			}
		default:
		}
		break
	}
	return nil, 0, err
}

// httpStatus performs a GET and returns its status code.
func httpStatus(ctx context.Context, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func wantStatus(ctx context.Context, url string, want int) error {
	got, err := httpStatus(ctx, url)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("GET %s: status %d, want %d", url, got, want)
	}
	return nil
}

func hostPort(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if extra := b.buf.Len() - b.max; extra > 0 {
		b.buf.Next(extra)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
