package s3

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/signgate/signgate/signer"
)

// WithMinCredentialLifetime sets how long temporary credentials must still
// live at signing time; shorter-lived ones are refreshed first, and if the
// refresh does not help, Sign fails with signer.ErrCredentialExpiring.
// The default is signer.DefaultMinCredentialLifetime; d <= 0 keeps it.
func WithMinCredentialLifetime(d time.Duration) Option {
	return func(s *Signer) {
		if d > 0 {
			s.minLife = d
		}
	}
}

func (s *Signer) minLifetime() time.Duration {
	if s.minLife > 0 {
		return s.minLife
	}
	return signer.DefaultMinCredentialLifetime
}

// credentials returns credentials that live at least the minimum lifetime
// after at. A URL dies with the credential that signed it, so temporary
// credentials (STS, SSO, IMDS, IRSA) close to their end are refreshed
// (CredentialsCache.Invalidate, then Retrieve) rather than used to sign a
// URL that would die within seconds.
func (s *Signer) credentials(ctx context.Context, at time.Time) (aws.Credentials, error) {
	creds, err := s.creds.Retrieve(ctx)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("credentials: %w", err)
	}
	if s.longEnough(creds, at) {
		return creds, nil
	}
	if cache, ok := s.creds.(*aws.CredentialsCache); ok {
		cache.Invalidate()
		if creds, err = cache.Retrieve(ctx); err != nil {
			return aws.Credentials{}, fmt.Errorf("credentials: refresh: %w", err)
		}
		if s.longEnough(creds, at) {
			return creds, nil
		}
	}
	return aws.Credentials{}, fmt.Errorf("%w: they expire at %s, less than %s after %s even after a refresh",
		signer.ErrCredentialExpiring, creds.Expires.UTC().Format(time.RFC3339), s.minLifetime(), at.Format(time.RFC3339))
}

func (s *Signer) longEnough(c aws.Credentials, at time.Time) bool {
	return !c.CanExpire || c.Expires.Sub(at) >= s.minLifetime()
}

// signingWindow retrieves the credentials to sign with at at, and clamps
// secs to what they live.
func (s *Signer) signingWindow(ctx context.Context, at time.Time, secs int64) (aws.Credentials, int64, string, error) {
	creds, err := s.credentials(ctx, at)
	if err != nil {
		return aws.Credentials{}, 0, "", err
	}
	secs, clampedBy := signer.ClampToCredential(at, secs, creds.CanExpire, creds.Expires)
	return creds, secs, clampedBy, nil
}

// Check obtains credentials as Sign would, so that an assumed role, SSO or
// web identity that fails shows before a URL is asked for. Static keys are
// not checked against the bucket: that would need a storage request.
func (s *Signer) Check(ctx context.Context) signer.Readiness {
	creds, err := s.credentials(ctx, s.now().UTC())
	switch {
	case err != nil:
		return signer.Readiness{Credential: "aws credentials", Err: err}
	case creds.CanExpire:
		return signer.Readiness{Ready: true, Credential: "temporary credentials", ValidUntil: creds.Expires.UTC()}
	}
	return signer.Readiness{Ready: true, Credential: "static keys (not checked against the bucket)"}
}

var _ signer.Checker = (*Signer)(nil)
