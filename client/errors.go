package client

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Codes of signgate's problems (docs/api.md); switch on these, never on
// the detail text.
const (
	CodeInvalidRequest     = "invalid_request"
	CodeUnauthenticated    = "unauthenticated"
	CodeDenied             = "denied"
	CodeNotFound           = "not_found"
	CodeTooLarge           = "payload_too_large"
	CodeUnsupported        = "unsupported_by_provider"
	CodeUnenforceable      = "constraint_unenforceable"
	CodeConstraintViolated = "constraint_violated"
	CodePolicyError        = "policy_error"
	CodeSignerError        = "signer_error"
	CodeNotReady           = "not_ready"
	CodeRateLimited        = "rate_limited"
	CodeInternal           = "internal_error"
)

// Error is signgate's answer to a request it did not grant: the
// application/problem+json document, with the decision id when a policy
// decided.
type Error struct {
	Status     int      `json:"status"`
	Code       string   `json:"code"`
	Title      string   `json:"title,omitempty"`
	Detail     string   `json:"detail,omitempty"`
	Reasons    []string `json:"reasons,omitempty"`
	DecisionID string   `json:"decision_id,omitempty"`
	RequestID  string   `json:"request_id,omitempty"`
	// RetryAfter is how long signgate asked the caller to wait (its
	// Retry-After header, on a 429 or 503); zero when it named no time.
	RetryAfter time.Duration `json:"-"`
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "signgate: %d %s", e.Status, e.Code)
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	if len(e.Reasons) > 0 {
		b.WriteString(" (reasons: " + strings.Join(e.Reasons, ", ") + ")")
	}
	if e.DecisionID != "" {
		b.WriteString(" [decision " + e.DecisionID + "]")
	}
	return b.String()
}

// Temporary reports whether the same request may succeed later.
func (e *Error) Temporary() bool {
	switch e.Status {
	case 429, 502, 503, 504:
		return true
	}
	return e.Code == CodeNotReady || e.Code == CodeRateLimited
}

func hasCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// IsDenied reports whether the policy denied the request.
func IsDenied(err error) bool { return hasCode(err, CodeDenied) }

// IsUnauthenticated reports whether signgate refused the key or token.
func IsUnauthenticated(err error) bool { return hasCode(err, CodeUnauthenticated) }

// IsInvalid reports whether the request itself was malformed.
func IsInvalid(err error) bool { return hasCode(err, CodeInvalidRequest) }

// IsUnenforceable reports whether the policy set a constraint that the
// requested flow cannot enforce; the detail names the flow that can.
func IsUnenforceable(err error) bool { return hasCode(err, CodeUnenforceable) }

// IsUnsupported reports whether the provider cannot honour the request.
func IsUnsupported(err error) bool { return hasCode(err, CodeUnsupported) }

// IsNotReady reports whether signgate is not ready to sign yet.
func IsNotReady(err error) bool { return hasCode(err, CodeNotReady) }

// DecisionID is the decision id carried by err, or "".
func DecisionID(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.DecisionID
	}
	var se *StorageError
	if errors.As(err, &se) {
		return se.DecisionID
	}
	return ""
}

// StorageError is a storage server's refusal of a signed request.
type StorageError struct {
	Op         string // "part 3", "complete", "GET range"...
	Status     int
	Code       string // the provider's error code (<Code>), when it says one
	Message    string
	DecisionID string // the decision that granted the URLs
}

func (e *StorageError) Error() string {
	s := fmt.Sprintf("storage: %s: status %d", e.Op, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.DecisionID != "" {
		s += " [decision " + e.DecisionID + "]"
	}
	return s
}

// retryable reports whether a storage answer is worth another try.
func (e *StorageError) retryable() bool {
	switch e.Code {
	case "InternalError", "SlowDown", "Md5Mismatch", "BadDigest", "InvalidDigest":
		return true // the bytes were damaged on the way: send them again
	}
	return e.Status == 0 || e.Status == 408 || e.Status == 429 || e.Status >= 500
}
