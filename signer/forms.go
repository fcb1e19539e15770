package signer

import (
	"context"
	"fmt"
	"time"
)

// FormGrant is what the policy allowed for a browser form upload (an HTML
// form POSTed straight to the storage server): one object, and the limits
// the storage server must enforce on it.
type FormGrant struct {
	Key string
	TTL time.Duration
	// MaxBytes, when > 0, is the largest body the server accepts.
	MaxBytes int64
	// ContentType, when set, is the only Content-Type the server accepts;
	// with ContentTypePrefix it is a prefix ("image/") the type must have.
	ContentType       string
	ContentTypePrefix bool
}

// Validate checks what every provider needs of a form grant.
func (g FormGrant) Validate() error {
	if err := validateGrant(g.Key, g.TTL, ""); err != nil {
		return err
	}
	switch {
	case g.MaxBytes < 0:
		return fmt.Errorf("%w: max bytes %d is negative", ErrInvalidGrant, g.MaxBytes)
	case g.ContentTypePrefix && g.ContentType == "":
		return fmt.Errorf("%w: empty content type prefix", ErrInvalidGrant)
	}
	return nil
}

// Form is a signed POST policy: the client POSTs multipart/form-data to
// URL with Fields (in any order) and then the file as the last field.
type Form struct {
	URL       string
	Fields    map[string]string
	ExpiresAt time.Time // the policy's expiration, exactly
	ClampedBy string    // as Signed.ClampedBy
}

// FormSigner is implemented by signers whose provider has POST policies
// (S3, GCS). Azure Blob has none.
type FormSigner interface {
	SignForm(ctx context.Context, g FormGrant) (Form, error)
}

// Flow is how a client uses what signgate signs; what a storage server can
// be made to enforce depends on it.
type Flow string

// The flows of the sign and upload APIs.
const (
	FlowURL    Flow = "url"    // one pre-signed URL (PUT for writes)
	FlowForm   Flow = "form"   // a POST policy
	FlowUpload Flow = "upload" // a chunked upload
)

// Constraint names a limit a policy may put on a write.
type Constraint string

// The constraints a decision may carry (docs/policy.md).
const (
	MaxBytes    Constraint = "max_bytes"
	ContentType Constraint = "content_type"
	ContentMD5  Constraint = "content_md5"
)

// Enforcer is implemented by signers that can make the storage server
// enforce some constraints in some flows. A signer that does not implement
// it enforces none, and signgate refuses any constraint the policy does
// not mark advisory.
type Enforcer interface {
	// Enforces reports whether what the signer signs in flow f makes the
	// storage server refuse an upload that breaks c.
	Enforces(f Flow, c Constraint) bool
}
