// Package gcs signs V4 signed URLs (GOOG4-RSA-SHA256) for one Google Cloud
// Storage bucket, or for an emulator or verifying proxy standing in for
// GCS. It owns the service-account key and the URL layout;
// storage.SignedURL builds and signs the URL.
package gcs

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/storage"

	"github.com/signgate/signgate/signer"
)

// defaultHost is GCS's own endpoint; URLs on it are path-style.
const defaultHost = "storage.googleapis.com"

// Config binds a Signer to one bucket.
type Config struct {
	Bucket string
	// Endpoint is the base URL of a GCS stand-in, e.g.
	// "http://127.0.0.1:4443" for an emulator or a verifying proxy. URLs
	// are path-style on it (endpoint/bucket/key), over http when its scheme
	// is http. Empty means https://storage.googleapis.com. The
	// STORAGE_EMULATOR_HOST variable is never read.
	Endpoint string
	// ServiceAccountJSON is a service-account key file (client_email and an
	// RSA private_key). It is parsed once, in New. Not needed with
	// WithSignBytes.
	ServiceAccountJSON []byte
}

// Option changes how a Signer is built.
//
// There is deliberately no WithClock: storage.SignedURL reads the wall
// clock itself and cannot be given another, so a clock option could not be
// honoured. The conformance suite runs GCS with Harness.WallClock: it
// checks that X-Goog-Date is the real time and that
// ExpiresAt = X-Goog-Date + TTL, exactly.
type Option func(*Signer)

// WithSignBytes signs as accessID (a service account's email) with sign,
// which returns the RSA-SHA256 PKCS #1 v1.5 signature of its input, e.g.
// through the IAM signBlob API or a KMS key. ServiceAccountJSON is then
// ignored and may be empty. An error from sign fails Sign.
func WithSignBytes(accessID string, sign func([]byte) ([]byte, error)) Option {
	return func(s *Signer) { s.accessID, s.signBytes = accessID, sign }
}

// Signer signs URLs for one GCS bucket.
type Signer struct {
	bucket    string
	hostname  string // host[:port] of every URL
	insecure  bool   // http rather than https
	accessID  string
	signBytes func([]byte) ([]byte, error)
	iam       *IAM // when set, every signature is a signBlob call
}

var _ signer.Signer = (*Signer)(nil)

// New checks cfg and returns a Signer for its bucket.
func New(cfg Config, opts ...Option) (*Signer, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("gcs: config: bucket is required")
	}
	s := &Signer{bucket: cfg.Bucket, hostname: defaultHost}
	if cfg.Endpoint != "" {
		u, err := signer.ParseEndpoint(cfg.Endpoint, false)
		if err != nil {
			return nil, fmt.Errorf("gcs: config: endpoint %w", err)
		}
		s.hostname, s.insecure = u.Host, u.Scheme == "http"
	}
	for _, o := range opts {
		o(s)
	}
	if s.signBytes == nil && s.iam == nil {
		sa, err := ParseServiceAccountJSON(cfg.ServiceAccountJSON)
		if err != nil {
			return nil, fmt.Errorf("gcs: config: %w", err)
		}
		s.accessID, s.signBytes = sa.Email, signWith(sa.Key)
	}
	if s.accessID == "" {
		return nil, errors.New("gcs: config: no service account email to sign as")
	}
	return s, nil
}

// signWith signs with an already parsed key, so that no PEM is parsed per
// URL (storage.SignedURLOptions.PrivateKey would parse it on every call).
func signWith(key *rsa.PrivateKey) func([]byte) ([]byte, error) {
	return func(b []byte) ([]byte, error) {
		sum := sha256.Sum256(b)
		return rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	}
}

// signFunc is what signs this call's string-to-sign: the local key, or one
// signBlob call under ctx once a slot of the bounded pool is free. release
// gives the slot back.
func (s *Signer) signFunc(ctx context.Context) (sign func([]byte) ([]byte, error), release func(), err error) {
	if s.iam == nil {
		return s.signBytes, func() {}, nil
	}
	release, err = s.iam.acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	return func(b []byte) ([]byte, error) { return s.iam.signBlob(ctx, b) }, release, nil
}

// SignConcurrency is how many Sign calls this signer serves at once when
// each is a remote call (signBlob); 0 when signing is local.
func (s *Signer) SignConcurrency() int {
	if s.iam == nil {
		return 0
	}
	return s.iam.Concurrency()
}

// Provider reports "gcs".
func (s *Signer) Provider() string { return "gcs" }

// Bucket reports the bucket the signer is bound to.
func (s *Signer) Bucket() string { return s.bucket }

// expiryMargin is added to the TTL given to storage.SignedURL. It computes
// X-Goog-Expires as int(Expires - its own reading of the clock), which is
// a little later than ours; without a margin the TTL would lose a second.
// With it, X-Goog-Expires is the TTL unless more than the margin passes
// between the two readings. Either way ExpiresAt is read back from the URL.
const expiryMargin = 500 * time.Millisecond

// Sign returns a V4 signed URL for g, signed at the wall clock's second.
// ExpiresAt is X-Goog-Date + X-Goog-Expires as written in the URL.
func (s *Signer) Sign(ctx context.Context, g signer.Grant) (signer.Signed, error) {
	secs, err := signer.Prepare(ctx, g)
	if err == nil {
		err = signer.RefuseIPRange(g)
	}
	if err != nil {
		return signer.Signed{}, fmt.Errorf("gcs: sign %q: %w", g.Key, err)
	}
	sign, release, err := s.signFunc(ctx)
	if err != nil {
		return signer.Signed{}, fmt.Errorf("gcs: sign %q: %w", g.Key, err)
	}
	defer release()
	method := g.Operation.Method()
	var query url.Values
	if g.DecisionID != "" {
		// V4 signs every query parameter it is given: the decision id is in
		// the canonical query and cannot be stripped or swapped.
		query = url.Values{signer.DecisionParam: {g.DecisionID}}
	}
	signed, err := storage.SignedURL(s.bucket, g.Key, &storage.SignedURLOptions{
		GoogleAccessID:  s.accessID,
		SignBytes:       sign,
		Method:          method,
		Expires:         time.Now().Add(time.Duration(secs)*time.Second + expiryMargin),
		ContentType:     g.ContentType,
		MD5:             g.ContentMD5,
		Scheme:          storage.SigningSchemeV4,
		Style:           storage.PathStyle(),
		Hostname:        s.hostname,
		Insecure:        s.insecure,
		QueryParameters: query,
	})
	if err != nil {
		return signer.Signed{}, fmt.Errorf("gcs: sign %q: %w", g.Key, err)
	}
	expiresAt, err := expiryOf(signed)
	if err != nil {
		return signer.Signed{}, fmt.Errorf("gcs: sign %q: %w", g.Key, err)
	}
	headers := map[string]string{}
	if g.ContentMD5 != "" {
		headers["Content-MD5"] = g.ContentMD5
	}
	if g.ContentType != "" {
		headers["Content-Type"] = g.ContentType
	}
	return signer.Signed{URL: signed, Method: method, Headers: headers, ExpiresAt: expiresAt}, nil
}

// expiryOf reads X-Goog-Date + X-Goog-Expires back out of a signed URL.
func expiryOf(signed string) (time.Time, error) {
	_, rawQuery, _ := strings.Cut(signed, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return time.Time{}, fmt.Errorf("signed URL: %w", err)
	}
	date, err := time.Parse("20060102T150405Z", q.Get("X-Goog-Date"))
	if err != nil {
		return time.Time{}, fmt.Errorf("signed URL: X-Goog-Date: %w", err)
	}
	secs, err := strconv.ParseInt(q.Get("X-Goog-Expires"), 10, 64)
	if err != nil || secs < 1 || secs > int64(signer.MaxTTL/time.Second) {
		return time.Time{}, fmt.Errorf("signed URL: X-Goog-Expires %q out of range", q.Get("X-Goog-Expires"))
	}
	return date.Add(time.Duration(secs) * time.Second), nil
}
