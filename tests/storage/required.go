package storage

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// RequiredEnv names the variable that makes the end-to-end tests
// mandatory. .ci/run sets it to "required": there a storage server or
// binary that is missing fails the test instead of skipping it, so a run
// that proved nothing against real storage cannot print ok.
const RequiredEnv = "SIGNGATE_E2E"

// Required reports whether RequiredEnv asks for the end-to-end tests to
// run. Any value but "" or "required" is an error, so a misspelling does
// not quietly turn the check off.
func Required() (bool, error) {
	switch v := os.Getenv(RequiredEnv); v {
	case "":
		return false, nil
	case "required":
		return true, nil
	default:
		return false, fmt.Errorf("%s=%q: want required or unset", RequiredEnv, v)
	}
}

// SkipOrFail skips t with msg (loudly: msg says what is missing and how
// to install it), or fails it when RequiredEnv says the end-to-end tests
// must run.
func SkipOrFail(t testing.TB, msg string) {
	t.Helper()
	required, err := Required()
	switch {
	case err != nil:
		t.Fatal(err)
	case required:
		t.Fatalf("%s (%s=required: end-to-end tests may not skip)", strings.TrimPrefix(msg, "SKIPPED: "), RequiredEnv)
	default:
		t.Skip(msg)
	}
}
