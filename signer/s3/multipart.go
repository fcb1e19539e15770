package s3

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/signgate/signgate/signer"
)

var _ signer.Uploader = (*Signer)(nil)

// apiClient is the S3 API client of a Signer, for the one call signgate
// makes itself: CreateMultipartUpload. It is built on first use from the
// signer's own region, credentials and endpoint.
type apiClient struct {
	once   sync.Once
	client *awss3.Client
}

func (s *Signer) apiClient() *awss3.Client {
	s.api.once.Do(func() {
		if s.pool != nil {
			s.api.client = s.pool.apiClient(s)
			return
		}
		s.api.client = newAPIClient(s)
	})
	return s.api.client
}

// apiOptions are the S3 API client options for s's region, credentials
// and endpoint; nothing in them depends on the bucket.
func apiOptions(s *Signer) awss3.Options {
	o := awss3.Options{
		Region:      s.region,
		Credentials: s.creds,
		// A plain CreateMultipartUpload needs no checksum; asking for
		// one would oblige every part to carry one.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	switch {
	case s.prefix != "" && !strings.HasSuffix(s.host, ".amazonaws.com"):
		// An S3-compatible endpoint, path-style, as the URLs are.
		o.BaseEndpoint, o.UsePathStyle = aws.String(s.scheme+"://"+s.host), true
	case s.prefix != "":
		o.UsePathStyle = true // a bucket name that cannot be a host label
	}
	return o
}

func newAPIClient(s *Signer) *awss3.Client { return awss3.New(apiOptions(s)) }

// StartUpload creates the multipart upload server-side, with the
// connector's credentials, and signs its flow: one UploadPart URL per part
// (part number, upload id and the part's exact length are signed, so a URL
// cannot upload another part, to another upload, or more bytes), and the
// CompleteMultipartUpload and AbortMultipartUpload URLs. Every URL is
// signed at the same second and expires at the same time.
//
// The content type is set on the upload when it is created; a client
// cannot change it later.
func (s *Signer) StartUpload(ctx context.Context, g signer.UploadGrant) (signer.Upload, error) {
	if err := g.Validate(); err != nil {
		return signer.Upload{}, fmt.Errorf("s3: upload %q: %w", g.Key, err)
	}
	if err := signer.RefuseIPRange(signer.Grant{IPRange: g.IPRange}); err != nil {
		return signer.Upload{}, fmt.Errorf("s3: upload %q: %w", g.Key, err)
	}
	parts, partSize, err := signer.PlanParts(g.Size, g.PartSize)
	if err != nil {
		return signer.Upload{}, fmt.Errorf("s3: upload %q: %w", g.Key, err)
	}
	if err := ctx.Err(); err != nil {
		return signer.Upload{}, fmt.Errorf("s3: upload %q: %w", g.Key, err)
	}
	at := s.now().UTC().Truncate(time.Second)
	creds, secs, clampedBy, err := s.signingWindow(ctx, at, int64(g.TTL/time.Second))
	if err != nil {
		return signer.Upload{}, fmt.Errorf("s3: upload %q: %w", g.Key, err)
	}
	in := &awss3.CreateMultipartUploadInput{Bucket: aws.String(s.bucket), Key: aws.String(g.Key)}
	if g.ContentType != "" {
		in.ContentType = aws.String(g.ContentType)
	}
	out, err := s.apiClient().CreateMultipartUpload(ctx, in)
	if err != nil {
		return signer.Upload{}, fmt.Errorf("s3: upload %q: create multipart upload: %w", g.Key, err)
	}
	id := aws.ToString(out.UploadId)
	if id == "" {
		return signer.Upload{}, fmt.Errorf("s3: upload %q: create multipart upload: no upload id", g.Key)
	}
	up, err := s.signFlow(ctx, creds, g, id, parts, secs, at)
	if err != nil {
		return signer.Upload{}, fmt.Errorf("s3: upload %q: %w", g.Key, err)
	}
	up.PartSize, up.ClampedBy = partSize, clampedBy
	return up, nil
}

// signFlow signs the URLs of multipart upload id: every part's
// UploadPart, then CompleteMultipartUpload and AbortMultipartUpload, all
// with creds at at for secs.
func (s *Signer) signFlow(ctx context.Context, creds aws.Credentials, g signer.UploadGrant, id string, parts []signer.Part, secs int64, at time.Time) (signer.Upload, error) {
	up := signer.Upload{Flow: signer.FlowS3Multipart, UploadID: id, Parts: parts, ExpiresAt: at.Add(time.Duration(secs) * time.Second)}
	path, rawPath := s.prefix+"/"+g.Key, s.prefix+"/"+signer.EscapeKey(g.Key)
	sign := func(method string, q url.Values, length int64) (signer.Signed, error) {
		q.Set("X-Amz-Expires", strconv.FormatInt(secs, 10))
		q.Set("uploadId", id)
		if g.DecisionID != "" {
			q.Set(signer.DecisionParam, g.DecisionID)
		}
		return s.presign(ctx, creds, presignRequest{
			method: method, path: path, rawPath: rawPath, rawQuery: q.Encode(), contentLength: length,
		}, secs, at)
	}
	for i := range up.Parts {
		p := &up.Parts[i]
		signed, err := sign("PUT", url.Values{"partNumber": {strconv.Itoa(p.Number)}}, p.Length)
		if err != nil {
			return signer.Upload{}, fmt.Errorf("part %d: %w", p.Number, err)
		}
		p.URL, p.Method, p.Headers = signed.URL, signed.Method, signed.Headers
	}
	complete, err := sign("POST", url.Values{}, 0)
	if err != nil {
		return signer.Upload{}, fmt.Errorf("complete: %w", err)
	}
	abort, err := sign("DELETE", url.Values{}, 0)
	if err != nil {
		return signer.Upload{}, fmt.Errorf("abort: %w", err)
	}
	up.Complete = &signer.Call{URL: complete.URL, Method: complete.Method, Headers: complete.Headers, BodyTemplate: completeTemplate(len(parts))}
	up.Abort = &signer.Call{URL: abort.URL, Method: abort.Method, Headers: abort.Headers}
	return up, nil
}

// completeTemplate is the CompleteMultipartUpload body for n parts, with
// "{etag:N}" where part N's ETag goes.
func completeTemplate(n int) string {
	var b strings.Builder
	b.Grow(80 + n*64)
	b.WriteString(`<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "<Part><PartNumber>%d</PartNumber><ETag>{etag:%d}</ETag></Part>", i, i)
	}
	b.WriteString("</CompleteMultipartUpload>")
	return b.String()
}
