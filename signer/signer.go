// Package signer declares how signgate turns an allowed decision into a
// pre-signed URL. Each provider (signer/s3, signer/gcs, signer/azblob)
// implements Signer for one connector: one bucket or container with its
// credentials. Providers never see policy or HTTP details of the sign API.
package signer

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Operation is what the URL lets its holder do to one object.
type Operation string

// The operations the sign API knows.
const (
	OpRead   Operation = "read"   // GET the object
	OpWrite  Operation = "write"  // PUT the whole object
	OpDelete Operation = "delete" // DELETE the object
)

// Valid reports whether op is one of the known operations.
func (op Operation) Valid() bool {
	switch op {
	case OpRead, OpWrite, OpDelete:
		return true
	}
	return false
}

// Method is the HTTP method a URL for op must be used with.
func (op Operation) Method() string {
	switch op {
	case OpRead:
		return "GET"
	case OpWrite:
		return "PUT"
	case OpDelete:
		return "DELETE"
	}
	return ""
}

// ErrUnsupported is returned when a grant asks for something the provider
// cannot put into a URL. A signer never silently drops a part of a grant.
var ErrUnsupported = errors.New("signer: unsupported by provider")

// ErrInvalidGrant is returned for a grant that no provider may sign
// (unknown operation, empty key, non-positive TTL).
var ErrInvalidGrant = errors.New("signer: invalid grant")

// MaxTTL is the longest lifetime any provider accepts in a query signature
// (SigV4 and GCS V4 both stop at 7 days).
const MaxTTL = 7 * 24 * time.Hour

// Grant is what the policy allowed: one operation on one key for a TTL.
type Grant struct {
	Key         string        // full object key inside the connector's bucket
	Operation   Operation     // read, write or delete
	TTL         time.Duration // lifetime of the URL, > 0
	ContentType string        // for write: when set, the signature binds it
	ContentMD5  string        // for write: when set, the signature binds Content-MD5 (base64)
	// DecisionID names the decision record; when set, the URL carries it as
	// DecisionParam, inside the signature where the provider signs the query.
	DecisionID string
	// IPRange, when valid, limits the URL to clients in that range. Only
	// signers that implement IPBinder and accept the range carry it; every
	// other signer refuses a grant with an IPRange.
	IPRange netip.Prefix
}

// IPBinder is implemented by signers whose URLs can carry the client IP
// range they may be used from (Azure's SAS sip). S3 and GCS URLs cannot.
type IPBinder interface {
	// BindsIPRange reports whether a URL can carry p.
	BindsIPRange(p netip.Prefix) bool
}

// DecisionParam is the query parameter that carries a URL's decision id, so
// that the provider's access logs join to the decision record by request
// URI. S3 ignores query parameters that start with "x-" and logs them in the
// Request-URI; GCS and Azure accept and log it too. See docs/audit.md.
const DecisionParam = "x-signgate-decision"

// maxDecisionID bounds a decision id; a UUID has 36 characters.
const maxDecisionID = 128

// Validate checks what every provider needs of a grant.
func (g Grant) Validate() error {
	if !g.Operation.Valid() {
		return fmt.Errorf("%w: unknown operation %q", ErrInvalidGrant, g.Operation)
	}
	if err := validateGrant(g.Key, g.TTL, g.DecisionID); err != nil {
		return err
	}
	switch {
	case g.ContentType != "" && g.Operation != OpWrite:
		return fmt.Errorf("%w: content type only applies to write", ErrInvalidGrant)
	case g.ContentMD5 != "" && g.Operation != OpWrite:
		return fmt.Errorf("%w: content MD5 only applies to write", ErrInvalidGrant)
	}
	return nil
}

// validateGrant checks what every grant has: a key, a TTL of one second to
// MaxTTL (every provider signs whole seconds), and a decision id that fits
// in a URL.
func validateGrant(key string, ttl time.Duration, decisionID string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrInvalidGrant)
	case ttl < time.Second:
		return fmt.Errorf("%w: ttl %s is under one second", ErrInvalidGrant, ttl)
	case ttl > MaxTTL:
		return fmt.Errorf("%w: ttl %s exceeds %s", ErrInvalidGrant, ttl, MaxTTL)
	case !validDecisionID(decisionID):
		return fmt.Errorf("%w: decision id must be up to %d of A-Z a-z 0-9 - . _ ~", ErrInvalidGrant, maxDecisionID)
	}
	return nil
}

// validDecisionID accepts the empty id (no parameter) and ids made only of
// RFC 3986 unreserved characters, which every provider puts into its
// canonical query unescaped.
func validDecisionID(id string) bool {
	if len(id) > maxDecisionID {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c == '/' || !keepInPath(c) {
			return false
		}
	}
	return true
}

// TTLSeconds is the grant's TTL in the whole seconds that every query
// signature carries (X-Amz-Expires, X-Goog-Expires, Azure's se). The fraction
// of a second is dropped, so that Signed.ExpiresAt never promises more than
// the URL holds; a TTL under one second cannot be signed at all.
func (g Grant) TTLSeconds() (int64, error) {
	secs := int64(g.TTL / time.Second)
	if secs < 1 {
		return 0, fmt.Errorf("%w: ttl %s is under one second", ErrInvalidGrant, g.TTL)
	}
	return secs, nil
}

// Signed is a URL ready to hand to a client.
type Signed struct {
	URL       string            // the pre-signed URL
	Method    string            // the HTTP method it is signed for
	Headers   map[string]string // every header the client must send
	ExpiresAt time.Time         // the expiry signed into the URL, exactly
	// ClampedBy says why ExpiresAt is earlier than the grant's TTL:
	// ClampedByCredential when the signing credential expires first,
	// otherwise "" (the caller applies ClampTTL's provider limit itself).
	ClampedBy string
}

// Signer signs URLs for one connector.
type Signer interface {
	// Sign returns a URL for g, or an error; never a partial URL.
	Sign(ctx context.Context, g Grant) (Signed, error)
	// Provider is "s3", "gcs" or "azure".
	Provider() string
	// Bucket is the bucket (or Azure container) the signer is bound to.
	Bucket() string
}

// Clock returns the current time. Signers take one so tests can fix it.
type Clock func() time.Time
