package gcs

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"cloud.google.com/go/storage"

	"github.com/signgate/signgate/signer"
)

var _ signer.Uploader = (*Signer)(nil)

// chunkGranularity is GCS's rule for resumable chunks: every chunk but the
// last is a multiple of 256 KiB.
const chunkGranularity = 256 << 10

// StartUpload signs the start of a resumable upload: a V4 URL for POST
// whose signed headers include x-goog-resumable: start (so the URL can
// open a session and do nothing else), x-goog-content-length-range 0,Size
// (GCS refuses a larger object) and, when set, Content-Type. GCS answers
// the POST with the session URI in Location; the client PUTs each part to
// it with the part's Content-Range. The session URI is itself the
// credential for the upload: GCS keeps it valid for a week, whatever the
// start URL's expiry.
func (s *Signer) StartUpload(ctx context.Context, g signer.UploadGrant) (signer.Upload, error) {
	if err := g.Validate(); err != nil {
		return signer.Upload{}, fmt.Errorf("gcs: upload %q: %w", g.Key, err)
	}
	parts, partSize, err := signer.PlanParts(g.Size, g.PartSize)
	if err != nil {
		return signer.Upload{}, fmt.Errorf("gcs: upload %q: %w", g.Key, err)
	}
	if partSize%chunkGranularity != 0 {
		return signer.Upload{}, fmt.Errorf("gcs: upload %q: %w: part_size %d is not a multiple of 262144 bytes (256 KiB)", g.Key, signer.ErrInvalidPlan, partSize)
	}
	if err := ctx.Err(); err != nil {
		return signer.Upload{}, fmt.Errorf("gcs: upload %q: %w", g.Key, err)
	}
	sign, release, err := s.signFunc(ctx)
	if err != nil {
		return signer.Upload{}, fmt.Errorf("gcs: upload %q: %w", g.Key, err)
	}
	defer release()
	lengthRange := "0," + strconv.FormatInt(g.Size, 10)
	var query url.Values
	if g.DecisionID != "" {
		query = url.Values{signer.DecisionParam: {g.DecisionID}}
	}
	signed, err := storage.SignedURL(s.bucket, g.Key, &storage.SignedURLOptions{
		GoogleAccessID:  s.accessID,
		SignBytes:       sign,
		Method:          "POST",
		Expires:         time.Now().Add(g.TTL.Truncate(time.Second) + expiryMargin),
		ContentType:     g.ContentType,
		Headers:         []string{"x-goog-resumable:start", "x-goog-content-length-range:" + lengthRange},
		QueryParameters: query,
		Scheme:          storage.SigningSchemeV4,
		Style:           storage.PathStyle(),
		Hostname:        s.hostname,
		Insecure:        s.insecure,
	})
	if err != nil {
		return signer.Upload{}, fmt.Errorf("gcs: upload %q: %w", g.Key, err)
	}
	expiresAt, err := expiryOf(signed)
	if err != nil {
		return signer.Upload{}, fmt.Errorf("gcs: upload %q: %w", g.Key, err)
	}
	headers := map[string]string{"x-goog-resumable": "start", "x-goog-content-length-range": lengthRange}
	if g.ContentType != "" {
		headers["Content-Type"] = g.ContentType
	}
	for i := range parts {
		p := &parts[i]
		p.Method = "PUT"
		p.Headers = map[string]string{
			"Content-Range": fmt.Sprintf("bytes %d-%d/%d", p.Offset, p.Offset+p.Length-1, g.Size),
		}
	}
	return signer.Upload{
		Flow:      signer.FlowGCSResumable,
		PartSize:  partSize,
		Parts:     parts,
		Start:     &signer.Call{URL: signed, Method: "POST", Headers: headers},
		ExpiresAt: expiresAt,
	}, nil
}
