package gcs

import (
	"context"
	"fmt"
	"time"

	"cloud.google.com/go/storage"

	"github.com/signgate/signgate/signer"
)

var (
	_ signer.FormSigner = (*Signer)(nil)
	_ signer.Enforcer   = (*Signer)(nil)
)

// Enforces reports what GCS refuses on its own: a PUT URL binds
// Content-Type and Content-MD5 as signed headers but cannot bound a size;
// a POST policy bounds the size (content-length-range) and the
// Content-Type; a resumable upload's signed start binds the Content-Type
// and x-goog-content-length-range.
func (s *Signer) Enforces(f signer.Flow, c signer.Constraint) bool {
	switch f {
	case signer.FlowURL:
		return c == signer.ContentType || c == signer.ContentMD5
	case signer.FlowForm, signer.FlowUpload:
		return c == signer.MaxBytes || c == signer.ContentType
	}
	return false
}

// SignForm returns a V4 POST policy for g through
// storage.GenerateSignedPostPolicyV4. The policy binds the bucket and the
// exact key, and the conditions g asks for: content-length-range
// [0, MaxBytes], and content-type equal to or starting with ContentType.
//
// The storage library reads the wall clock for x-goog-date, as
// storage.SignedURL does (see Option); the expiration is ours, whole
// seconds, and is ExpiresAt.
func (s *Signer) SignForm(ctx context.Context, g signer.FormGrant) (signer.Form, error) {
	if err := g.Validate(); err != nil {
		return signer.Form{}, fmt.Errorf("gcs: form %q: %w", g.Key, err)
	}
	if err := ctx.Err(); err != nil {
		return signer.Form{}, fmt.Errorf("gcs: form %q: %w", g.Key, err)
	}
	expires := time.Now().UTC().Truncate(time.Second).Add(g.TTL.Truncate(time.Second))
	var conds []storage.PostPolicyV4Condition
	if g.MaxBytes > 0 {
		conds = append(conds, storage.ConditionContentLengthRange(0, uint64(g.MaxBytes)))
	}
	fields := &storage.PolicyV4Fields{}
	switch {
	case g.ContentTypePrefix:
		conds = append(conds, storage.ConditionStartsWith("$Content-Type", g.ContentType))
	case g.ContentType != "":
		fields.ContentType = g.ContentType
	}
	sign, release, err := s.signFunc(ctx)
	if err != nil {
		return signer.Form{}, fmt.Errorf("gcs: form %q: %w", g.Key, err)
	}
	defer release()
	pp, err := s.signPolicy(sign, g.Key, expires, fields, conds)
	if err != nil {
		return signer.Form{}, fmt.Errorf("gcs: form %q: %w", g.Key, err)
	}
	return signer.Form{URL: pp.URL, Fields: pp.Fields, ExpiresAt: expires}, nil
}

// signPolicy is the one call to the storage library for POST policies;
// Google's post-policy vectors test it directly.
func (s *Signer) signPolicy(sign func([]byte) ([]byte, error), key string, expires time.Time, fields *storage.PolicyV4Fields, conds []storage.PostPolicyV4Condition) (*storage.PostPolicyV4, error) {
	return storage.GenerateSignedPostPolicyV4(s.bucket, key, &storage.PostPolicyV4Options{
		GoogleAccessID: s.accessID,
		SignRawBytes:   sign,
		Expires:        expires,
		Style:          storage.PathStyle(),
		Hostname:       s.hostname,
		Insecure:       s.insecure,
		Fields:         fields,
		Conditions:     conds,
	})
}
