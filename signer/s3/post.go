package s3

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/signgate/signgate/signer"
)

var (
	_ signer.FormSigner = (*Signer)(nil)
	_ signer.Enforcer   = (*Signer)(nil)
)

// Enforces reports what S3 refuses on its own: a PUT URL binds
// Content-Type and Content-MD5 as signed headers but cannot bound a size;
// a POST policy bounds the size (content-length-range) and the
// Content-Type; a multipart upload fixes the content type when it is
// created and signs each part's exact length.
func (s *Signer) Enforces(f signer.Flow, c signer.Constraint) bool {
	switch f {
	case signer.FlowURL:
		return c == signer.ContentType || c == signer.ContentMD5
	case signer.FlowForm, signer.FlowUpload:
		return c == signer.MaxBytes || c == signer.ContentType
	}
	return false
}

// SignForm returns a POST policy for g through the S3 client's own
// PresignPostObject. The policy binds the bucket and the exact key (the
// SDK adds the key condition), and the conditions g asks for:
// content-length-range [0, MaxBytes], and Content-Type equal to or
// starting with ContentType.
func (s *Signer) SignForm(ctx context.Context, g signer.FormGrant) (signer.Form, error) {
	if err := g.Validate(); err != nil {
		return signer.Form{}, fmt.Errorf("s3: form %q: %w", g.Key, err)
	}
	if err := ctx.Err(); err != nil {
		return signer.Form{}, fmt.Errorf("s3: form %q: %w", g.Key, err)
	}
	at := s.now().UTC().Truncate(time.Second)
	creds, secs, clampedBy, err := s.signingWindow(ctx, at, int64(g.TTL/time.Second))
	if err != nil {
		return signer.Form{}, fmt.Errorf("s3: form %q: %w", g.Key, err)
	}
	expires := at.Add(time.Duration(secs) * time.Second)
	var conditions []any
	if g.MaxBytes > 0 {
		conditions = append(conditions, []any{"content-length-range", 0, g.MaxBytes})
	}
	fields := map[string]string{}
	switch {
	case g.ContentTypePrefix:
		conditions = append(conditions, []any{"starts-with", "$Content-Type", g.ContentType})
	case g.ContentType != "":
		conditions = append(conditions, []any{"eq", "$Content-Type", g.ContentType})
		fields["Content-Type"] = g.ContentType
	}
	presigner := awss3.NewPresignClient(s.apiClient())
	out, err := presigner.PresignPostObject(ctx,
		&awss3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(g.Key)},
		func(o *awss3.PresignPostOptions) {
			o.Expires = time.Duration(secs) * time.Second
			o.Conditions = conditions
			o.PostPresigner = &atTime{inner: o.PostPresigner, creds: creds, at: at, expires: expires}
		})
	if err != nil {
		return signer.Form{}, fmt.Errorf("s3: form %q: %w", g.Key, err)
	}
	for k, v := range out.Values {
		fields[k] = v
	}
	return signer.Form{URL: out.URL, Fields: fields, ExpiresAt: expires, ClampedBy: clampedBy}, nil
}

// atTime hands the SDK's POST presigner the signer's clock and the
// credentials whose lifetime the expiry was clamped to; the presign
// middleware would read the wall clock and the credential cache again.
type atTime struct {
	inner       awss3.PresignPost
	creds       aws.Credentials
	at, expires time.Time
}

func (p *atTime) PresignPost(_ aws.Credentials, bucket, key, region, service string, _ time.Time,
	conditions []any, _ time.Time, optFns ...func(*v4.SignerOptions),
) (map[string]string, error) {
	return p.inner.PresignPost(p.creds, bucket, key, region, service, p.at, conditions, p.expires, optFns...)
}
