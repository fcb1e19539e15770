package signer

import (
	"context"
	"time"
)

// Readiness is whether a signer can sign right now, and with what. It
// names the kind of credential, never a secret.
type Readiness struct {
	Ready bool
	// Credential says what signs, e.g. "static keys", "assumed-role
	// session", "IAM signBlob", "user delegation key".
	Credential string
	// ValidUntil is when the credential in hand expires; zero when it does
	// not (a key) or is unknown.
	ValidUntil time.Time
	// Err is why the signer cannot sign, when it cannot.
	Err error
}

// Checker is implemented by signers that can tell whether they can sign
// now: the key parsed, a token or session obtained, a delegation key
// valid. Check may make network calls (a token, a signBlob probe, a
// delegation key); callers bound it with ctx and cache its answer.
type Checker interface {
	Check(ctx context.Context) Readiness
}
