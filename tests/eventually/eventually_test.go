package eventually

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// fatalTB records a test's fatal failure as the testing package would: it
// stops the goroutine that failed.
type fatalTB struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.msg = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

// run calls wait on a fatalTB, in its own goroutine as a test would be, and
// returns the failure message ("" when it passed).
func run(wait func(t testing.TB)) string {
	f := &fatalTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		wait(f)
	}()
	<-done
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.msg
}

func TestCheck(t *testing.T) {
	t.Run("returns once the condition holds", func(t *testing.T) {
		calls := 0
		msg := run(func(tb testing.TB) {
			Check(tb, time.Minute, "the third call", func() error {
				if calls++; calls < 3 {
					return fmt.Errorf("call %d", calls)
				}
				return nil
			})
		})
		if msg != "" || calls != 3 {
			t.Fatalf("failed with %q after %d calls; want a pass on the third call", msg, calls)
		}
	})
	t.Run("fails with what the condition said last", func(t *testing.T) {
		calls := 0
		msg := run(func(tb testing.TB) {
			Check(tb, 50*time.Millisecond, "revision r2", func() error { calls++; return fmt.Errorf("active revision r%d", calls) })
		})
		want := fmt.Sprintf("waiting for revision r2: active revision r%d", calls)
		if calls < 2 || !strings.HasPrefix(msg, "timed out after 50ms") || !strings.HasSuffix(msg, want) {
			t.Fatalf("message %q after %d calls; want the timeout and %q", msg, calls, want)
		}
	})
}

func TestTrue(t *testing.T) {
	if msg := run(func(tb testing.TB) { True(tb, 30*time.Millisecond, "nothing", func() bool { return false }) }); !strings.Contains(msg, "waiting for nothing") {
		t.Fatalf("message %q", msg)
	}
	if msg := run(func(tb testing.TB) { True(tb, time.Minute, "something", func() bool { return true }) }); msg != "" {
		t.Fatalf("a condition that holds failed: %q", msg)
	}
}
