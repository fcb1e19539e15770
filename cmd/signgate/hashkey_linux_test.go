package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal and returns its terminal end, as an
// interactive shell's stdin is.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return tty
}

func TestHashKeyRefusesATerminal(t *testing.T) {
	tty := openPTY(t)
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- report(run(context.Background(), []string{"hash-key"}, tty, &stdout, &stderr), &stderr)
	}()
	select {
	case code := <-done:
		if code != exitUsage {
			t.Errorf("exit status %d, want %d", code, exitUsage)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("hash-key waits for a key from the terminal")
	}
	if stdout.Len() != 0 || !strings.Contains(stderr.String(), "echo -n KEY | signgate hash-key") {
		t.Fatalf("stdout %q, stderr %q: want the hint on stderr only", stdout.String(), stderr.String())
	}
}
