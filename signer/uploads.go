package signer

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Part-size rules of a chunked upload. They are S3's (at least 5 MiB but
// the last part, at most 5 GiB a part, at most 10,000 parts, at most 5 TiB
// an object), which every provider's chunked flow can follow; a provider
// with a stricter rule (Azure: 4000 MiB a block; GCS: chunks in multiples
// of 256 KiB) refuses a plan that breaks it with ErrInvalidPlan.
const (
	MinPartSize     = 5 << 20
	MaxPartSize     = 5 << 30
	MaxParts        = 10_000
	MaxUploadSize   = 5 << 40
	DefaultPartSize = 8 << 20
)

// ErrInvalidPlan is returned for a size or part size that the provider's
// chunked flow cannot carry: the caller's input is wrong, not the signer.
var ErrInvalidPlan = errors.New("signer: invalid upload plan")

// Flows of a chunked upload, one per provider.
const (
	FlowS3Multipart  = "s3_multipart"
	FlowAzureBlocks  = "azure_blocks"
	FlowGCSResumable = "gcs_resumable"
)

// UploadGrant is what the policy allowed for a chunked upload: one object
// of Size bytes, sent in parts of PartSize (the last one shorter).
type UploadGrant struct {
	Key         string
	Size        int64
	PartSize    int64
	TTL         time.Duration
	ContentType string // when set, the object gets it and the client cannot change it
	DecisionID  string // as Grant.DecisionID, on every URL that can carry it
}

// Upload is a provider's native chunked-upload flow with every URL signed.
// Each call is a request the client makes itself: signgate never carries
// object bytes.
type Upload struct {
	Flow     string
	UploadID string // S3's UploadId; Azure's block-id nonce; "" for GCS
	PartSize int64
	Parts    []Part
	Start    *Call // GCS: the POST that opens the resumable session
	Complete *Call // S3: CompleteMultipartUpload; Azure: Put Block List
	Abort    *Call // S3: AbortMultipartUpload
	// ExpiresAt is when every URL of the flow expires, exactly.
	ExpiresAt time.Time
	ClampedBy string // as Signed.ClampedBy
}

// Part is one chunk: bytes [Offset, Offset+Length) of the object.
type Part struct {
	Number  int
	Offset  int64
	Length  int64
	BlockID string            // Azure: the base64 block id
	URL     string            // "" for GCS: PUT to the session URI from Start
	Method  string            // "PUT"
	Headers map[string]string // every header to send, exactly
}

// Call is one request of a flow besides the parts.
type Call struct {
	URL     string
	Method  string
	Headers map[string]string
	// Body is the exact body to send; BodyTemplate is a body with one
	// "{etag:N}" placeholder per part, to be replaced by the ETag response
	// header (quotes included) of part N's upload.
	Body         string
	BodyTemplate string
}

// Uploader is implemented by signers that have a chunked-upload flow.
type Uploader interface {
	StartUpload(ctx context.Context, g UploadGrant) (Upload, error)
}

// PlanParts splits size bytes into parts of partSize (0: the default,
// grown for objects over 10,000 default parts) following the part-size
// rules. The parts carry number, offset and length only.
func PlanParts(size, partSize int64) ([]Part, int64, error) {
	switch {
	case size < 1:
		return nil, 0, fmt.Errorf("%w: size must be at least 1 byte", ErrInvalidPlan)
	case size > MaxUploadSize:
		return nil, 0, fmt.Errorf("%w: size %d exceeds %d bytes (5 TiB)", ErrInvalidPlan, size, int64(MaxUploadSize))
	}
	if partSize == 0 {
		partSize = DefaultPartSize
		if min := ceilDiv(size, MaxParts); min > partSize {
			partSize = ceilDiv(min, 1<<20) << 20 // whole MiB
		}
	}
	switch {
	case partSize < MinPartSize:
		return nil, 0, fmt.Errorf("%w: part_size %d is under %d bytes (5 MiB)", ErrInvalidPlan, partSize, MinPartSize)
	case partSize > MaxPartSize:
		return nil, 0, fmt.Errorf("%w: part_size %d exceeds %d bytes (5 GiB)", ErrInvalidPlan, partSize, int64(MaxPartSize))
	}
	n := ceilDiv(size, partSize)
	if n > MaxParts {
		return nil, 0, fmt.Errorf("%w: %d parts of %d bytes exceed %d parts", ErrInvalidPlan, n, partSize, MaxParts)
	}
	parts := make([]Part, n)
	for i := range parts {
		off := int64(i) * partSize
		parts[i] = Part{Number: i + 1, Offset: off, Length: min(partSize, size-off)}
	}
	return parts, partSize, nil
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// Validate checks what every provider needs of an upload grant.
func (g UploadGrant) Validate() error {
	return validateGrant(g.Key, g.TTL, g.DecisionID)
}
