// Package eventually waits, in tests, for what another goroutine or process
// makes true: a revision to activate, a record to be written, a metric to
// move. When it gives up it says what it saw last, so that a test that
// fails on a slow machine explains itself.
package eventually

import (
	"errors"
	"testing"
	"time"
)

// maxInterval bounds the pause between two polls. The first pauses are
// shorter, so that a wait for what is nearly there stays short.
const maxInterval = 16 * time.Millisecond

// Check polls cond until it returns nil, and fails the test with cond's
// last error once within has passed. cond's error says why the wait is not
// over yet, for example the state it found.
func Check(t testing.TB, within time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for pause := time.Millisecond; ; pause = min(2*pause, maxInterval) {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %v", within, what, err)
		}
		time.Sleep(pause)
	}
}

// errFalse is a condition's error when it has nothing more to say.
var errFalse = errors.New("the condition never held")

// True polls cond until it holds, and fails the test once within has
// passed.
func True(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	Check(t, within, what, func() error {
		if cond() {
			return nil
		}
		return errFalse
	})
}
