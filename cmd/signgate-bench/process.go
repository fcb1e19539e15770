package main

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
	"strings"
	"sync"
	"syscall"
	"time"
)

// readyTimeout bounds a server's start: signgate builds 1,000 signers and
// both compile the policy, on a machine that may be busy.
const readyTimeout = 90 * time.Second

// moduleRoot is the directory of the signgate module the harness runs in.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run from inside the signgate module (go run ./cmd/signgate-bench)")
	}
	b, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	if !bytes.HasPrefix(b, []byte("module github.com/signgate/signgate\n")) {
		return "", fmt.Errorf("%s is not the signgate module", gomod)
	}
	return filepath.Dir(gomod), nil
}

// binaries builds signgate from this checkout and finds the OPA that
// go.mod pins, unless prebuilt binaries were given.
func binaries(ctx context.Context, root, dir string, o options, w io.Writer) (sg, opa string, err error) {
	sg, opa = o.signgate, o.opa
	if sg == "" {
		sg = filepath.Join(dir, "signgate")
		start := time.Now()
		// The release recipe, so that what is measured is what ships.
		// VERSION fixed: git describe --dirty may refresh the index.
		cmd := exec.CommandContext(ctx, "sh", filepath.Join("deploy", "build.sh"), sg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0", "VERSION=bench")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("deploy/build.sh: %w\n%s", err, out)
		}
		fmt.Fprintf(w, "build     ./cmd/signgate with deploy/build.sh in %s\n", time.Since(start).Round(time.Millisecond))
	}
	if opa == "" {
		// go tool -n builds (or finds) the pinned tool and prints its path.
		// Running that binary directly, rather than through `go tool opa`,
		// makes the PID OPA's own, for its CPU and memory figures.
		cmd := exec.CommandContext(ctx, "go", "tool", "-n", "opa")
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			return "", "", fmt.Errorf("go tool -n opa: %w", err)
		}
		opa = strings.TrimSpace(string(out))
	}
	ver, _ := exec.CommandContext(ctx, opa, "version").Output()
	v, _, _ := strings.Cut(string(ver), "\n")
	fmt.Fprintf(w, "opa       %s (%s)\n", opa, strings.TrimSpace(v))
	return sg, opa, nil
}

// proc is a server the harness started. It is signalled by its own PID
// only, and killed by the kernel if the harness dies first.
type proc struct {
	name    string
	base    string // http://127.0.0.1:PORT
	cmd     *exec.Cmd
	stdout  *outputSink
	stderr  *outputSink
	done    chan struct{} // closed when the process has exited
	err     error         // Wait's result, valid after done
	readyIn time.Duration
	stop    sync.Once
}

func (p *proc) PID() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM, waits for a graceful exit (signgate flushes its
// audit records), and sends SIGKILL only if that takes over 20 s.
func (p *proc) Stop() {
	p.stop.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// startServer starts argv(addr) on a free 127.0.0.1 port and polls
// GET readyPath until it answers 200, on a new port if the process exits
// early (it may have lost the race for the port).
func startServer(ctx context.Context, name, dir string, env []string, argv func(addr string) ([]string, error), readyPath string) (*proc, error) {
	var err error
	for range 3 {
		var addr string
		if addr, err = freeAddr(); err != nil {
			return nil, err
		}
		args, aerr := argv(addr)
		if aerr != nil {
			return nil, aerr
		}
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		cmd.SysProcAttr = sysProcAttr()
		p := &proc{name: name, base: "http://" + addr, cmd: cmd, done: make(chan struct{}),
			stdout: &outputSink{}, stderr: &outputSink{}}
		cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
		start := time.Now()
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
		go func() {
			p.err = cmd.Wait()
			close(p.done)
		}()
		if err = p.waitReady(ctx, readyPath); err == nil {
			p.readyIn = time.Since(start)
			return p, nil
		}
		p.Stop()
		select {
		case <-ctx.Done():
			return nil, err
		default:
		}
	}
	return nil, err
}

func (p *proc) waitReady(ctx context.Context, path string) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer c.CloseIdleConnections()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		last = getOK(ctx, c, p.base+path)
		if last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v); stderr:\n%s", p.name, p.err, p.stderr.Tail())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %v; stderr:\n%s", p.name, last, p.stderr.Tail())
		case <-tick.C:
		}
	}
}

func getOK(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s %s", url, resp.Status, body)
	}
	return nil
}

// freeAddr is a 127.0.0.1 address whose port was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startSigngate runs `signgate serve --config` with the generated
// configuration: the console audit sink on, its stdout drained here.
func startSigngate(ctx context.Context, bin, dir string, fx *fixture) (*proc, error) {
	argv := func(addr string) ([]string, error) {
		return []string{bin, "serve", "--config", fx.configPath}, fx.writeConfig(addr)
	}
	return startServer(ctx, "signgate", dir, fx.env, argv, "/readyz")
}

// startOPA runs the OPA server on the same bundle directory, with decision
// logs off (the default without a configuration), no version check (no
// traffic off the machine) and only error logs.
func startOPA(ctx context.Context, bin, dir string, fx *fixture) (*proc, error) {
	argv := func(addr string) ([]string, error) {
		return []string{bin, "run", "--server", "--addr", addr, "--log-level", "error",
			"--skip-version-check", "--bundle", fx.bundleDir}, nil
	}
	return startServer(ctx, "opa", dir, nil, argv, "/health")
}

// outputSink drains a server's stdout or stderr: it counts bytes and lines
// (signgate's audit records are one JSON line each), keeps the tail for
// error messages, and captures everything while capturing is on.
type outputSink struct {
	mu        sync.Mutex
	bytes     int64
	lines     int64
	tail      []byte
	capturing bool
	captured  []byte
}

const (
	tailBytes    = 8 << 10
	captureBytes = 4 << 20
)

func (s *outputSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bytes += int64(len(p))
	s.lines += int64(bytes.Count(p, []byte{'\n'}))
	if s.capturing && len(s.captured) < captureBytes {
		s.captured = append(s.captured, p[:min(len(p), captureBytes-len(s.captured))]...)
	}
	if len(p) >= tailBytes {
		s.tail = append(s.tail[:0], p[len(p)-tailBytes:]...)
	} else {
		if over := len(s.tail) + len(p) - tailBytes; over > 0 {
			s.tail = append(s.tail[:0], s.tail[over:]...)
		}
		s.tail = append(s.tail, p...)
	}
	return len(p), nil
}

// Counts returns the bytes and lines written so far.
func (s *outputSink) Counts() (bytes, lines int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes, s.lines
}

// Tail is the last few KiB written.
func (s *outputSink) Tail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.tail)
}

// Capture starts keeping what is written, from now on.
func (s *outputSink) Capture() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.capturing, s.captured = true, nil
}

// Captured returns what was kept since Capture, and keeps capturing.
func (s *outputSink) Captured() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.captured...)
}

// StopCapture stops keeping what is written.
func (s *outputSink) StopCapture() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.capturing, s.captured = false, nil
}
