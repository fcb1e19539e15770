// Package s3 signs SigV4 query-string (presigned) URLs for one bucket of
// Amazon S3 or an S3-compatible server such as versitygw. It owns the URL
// layout and the SigV4 configuration; the AWS SDK computes the signature.
package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/signgate/signgate/signer"
)

// unsignedPayload is S3's payload hash for a URL whose body is not known
// when it is signed.
const unsignedPayload = "UNSIGNED-PAYLOAD"

// Config binds a Signer to one bucket.
type Config struct {
	Bucket string
	Region string // signing region, e.g. "us-east-1"
	// Endpoint is the base URL of an S3-compatible server, e.g.
	// "http://127.0.0.1:7070". When set, URLs are path-style
	// (endpoint/bucket/key). When empty, URLs are virtual-hosted on AWS
	// (https://bucket.s3.region.amazonaws.com/key), or path-style on
	// https://s3.region.amazonaws.com for a bucket name that cannot be a
	// TLS-valid host label (dots, upper case, underscores).
	Endpoint string
	// Credentials signs the URLs; see StaticCredentials and
	// DefaultCredentials. It is wrapped in an aws.CredentialsCache.
	Credentials aws.CredentialsProvider
}

// Option changes how a Signer is built.
type Option func(*Signer)

// WithClock sets the clock that signing times are read from; the default
// is time.Now, which a nil c keeps.
func WithClock(c signer.Clock) Option {
	return func(s *Signer) {
		if c != nil {
			s.now = c
		}
	}
}

// Signer signs URLs for one S3 bucket.
type Signer struct {
	bucket string
	region string
	scheme string
	host   string // host[:port] the URL and its signature name
	prefix string // "/bucket" for path-style, "" for virtual-hosted
	creds  aws.CredentialsProvider
	v4     *v4.Signer
	now    signer.Clock

	minLife time.Duration // see WithMinCredentialLifetime
	api     apiClient     // for CreateMultipartUpload and POST policies
	pool    *Pool         // see WithPool; nil when the signer shares nothing
}

var _ signer.Signer = (*Signer)(nil)

// New checks cfg and returns a Signer for its bucket.
func New(cfg Config, opts ...Option) (*Signer, error) {
	switch {
	case cfg.Bucket == "":
		return nil, errors.New("s3: config: bucket is required")
	case cfg.Region == "":
		return nil, errors.New("s3: config: region is required")
	case cfg.Credentials == nil:
		return nil, errors.New("s3: config: credentials are required")
	case strings.Trim(cfg.Bucket, bucketChars) != "":
		return nil, fmt.Errorf("s3: config: bucket %q: want letters, digits, '.', '-', '_'", cfg.Bucket)
	}
	s := &Signer{
		bucket: cfg.Bucket,
		region: cfg.Region,
		now:    time.Now,
	}
	for _, o := range opts {
		o(s)
	}
	cache, cached := cfg.Credentials.(*aws.CredentialsCache)
	if !cached {
		cache = aws.NewCredentialsCache(cfg.Credentials)
	}
	s.creds = cache
	if s.pool != nil {
		s.v4 = s.pool.v4For(cache)
	} else {
		s.v4 = newV4Signer()
	}
	bucketPath := "/" + cfg.Bucket // needs no escaping: see bucketChars
	switch {
	case cfg.Endpoint != "":
		u, err := signer.ParseEndpoint(cfg.Endpoint, false)
		if err != nil {
			return nil, fmt.Errorf("s3: config: endpoint %w", err)
		}
		s.scheme, s.host, s.prefix = u.Scheme, u.Host, bucketPath
	case virtualHostable(cfg.Bucket):
		s.scheme, s.host = "https", cfg.Bucket+".s3."+cfg.Region+".amazonaws.com"
	default:
		s.scheme, s.host, s.prefix = "https", "s3."+cfg.Region+".amazonaws.com", bucketPath
	}
	return s, nil
}

// newV4Signer is the one SigV4 configuration this package signs with. S3
// wants the path escaped exactly once, which signer.EscapeKey has done, so
// the SDK must not escape it a second time (that is the "S3 mode" every AWS
// SDK uses for S3). The vector tests use this same function.
func newV4Signer() *v4.Signer {
	return v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
}

// Provider reports "s3".
func (s *Signer) Provider() string { return "s3" }

// Bucket reports the bucket the signer is bound to.
func (s *Signer) Bucket() string { return s.bucket }

// Sign returns a presigned URL for g, signed at the clock's time truncated
// to the second so that ExpiresAt is exactly X-Amz-Date + X-Amz-Expires.
func (s *Signer) Sign(ctx context.Context, g signer.Grant) (signer.Signed, error) {
	secs, err := signer.Prepare(ctx, g)
	if err == nil {
		err = signer.RefuseIPRange(g)
	}
	if err != nil {
		return signer.Signed{}, fmt.Errorf("s3: sign %q: %w", g.Key, err)
	}
	at := s.now().UTC().Truncate(time.Second)
	creds, secs, clampedBy, err := s.signingWindow(ctx, at, secs)
	if err != nil {
		return signer.Signed{}, fmt.Errorf("s3: sign %q: %w", g.Key, err)
	}
	path := s.prefix + "/" + g.Key
	rawPath := path
	if esc := signer.EscapeKey(g.Key); esc != g.Key {
		rawPath = s.prefix + "/" + esc
	}
	// In the query before signing, so that SigV4's canonical query string
	// covers it: the decision id cannot be stripped or swapped.
	var buf [128]byte // on the stack: the query's one allocation is its string
	q := strconv.AppendInt(append(buf[:0], "X-Amz-Expires="...), secs, 10)
	if g.DecisionID != "" {
		q = append(q, '&')
		q = append(q, signer.DecisionParam...)
		q = append(q, '=')
		q = append(q, g.DecisionID...)
	}
	query := string(q)
	var header http.Header // nil for a read: the SDK only reads it
	if g.ContentType != "" || g.ContentMD5 != "" {
		header = http.Header{}
		if g.ContentType != "" {
			header.Set("Content-Type", g.ContentType)
		}
		if g.ContentMD5 != "" {
			header.Set("Content-MD5", g.ContentMD5)
		}
	}
	signed, err := s.presign(ctx, creds, presignRequest{
		method: g.Operation.Method(), path: path, rawPath: rawPath, rawQuery: query, header: header,
	}, secs, at)
	if err != nil {
		return signer.Signed{}, fmt.Errorf("s3: sign %q: %w", g.Key, err)
	}
	signed.ClampedBy = clampedBy
	return signed, nil
}

// bucketChars are the characters of any S3 bucket name, legacy ones
// included; none of them needs escaping in a URL path.
const bucketChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_"

// virtualHostable reports whether bucket can be the first label of
// bucket.s3.region.amazonaws.com under AWS's wildcard TLS certificate:
// 3-63 lower-case letters, digits and hyphens, not starting or ending with
// a hyphen. Dotted names are valid buckets but break TLS there.
func virtualHostable(bucket string) bool {
	if len(bucket) < 3 || len(bucket) > 63 || bucket[0] == '-' || bucket[len(bucket)-1] == '-' {
		return false
	}
	for i := 0; i < len(bucket); i++ {
		c := bucket[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
