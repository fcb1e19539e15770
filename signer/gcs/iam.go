package gcs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	credentials "cloud.google.com/go/iam/credentials/apiv1"
	"cloud.google.com/go/iam/credentials/apiv1/credentialspb"

	"cloud.google.com/go/auth"
	authcreds "cloud.google.com/go/auth/credentials"
	"cloud.google.com/go/compute/metadata"
	"google.golang.org/api/option"

	"github.com/signgate/signgate/signer"
)

// Defaults for IAMConfig.
const (
	DefaultSignBlobTimeout     = 5 * time.Second
	DefaultSignBlobConcurrency = 16
)

var errIAMNegative = errors.New("gcs: iam: timeout and concurrency must not be negative")

// cloudPlatformScope is what signBlob needs (iam.serviceAccounts.signBlob).
const cloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"

// IAMConfig makes URLs signed by Google: each signature is one call to the
// IAM Credentials API's signBlob, so no service-account key exists outside
// Google. The caller (Application Default Credentials, or Credentials) needs
// roles/iam.serviceAccountTokenCreator on ServiceAccount.
type IAMConfig struct {
	// ServiceAccount is the email of the account to sign as. Empty means
	// the account of the Application Default Credentials themselves (the
	// client_email of a credentials file, or the metadata server's default
	// account on GKE, Cloud Run and GCE).
	ServiceAccount string
	// Endpoint is the IAM Credentials API's base URL; empty means
	// https://iamcredentials.googleapis.com.
	Endpoint string
	// Timeout bounds one signBlob call, retries included; a slower call
	// fails the URL. Zero means DefaultSignBlobTimeout.
	Timeout time.Duration
	// Concurrency bounds the signBlob calls in flight for this connector.
	// Zero means DefaultSignBlobConcurrency.
	Concurrency int
	// Credentials authenticate the calls; nil means Application Default
	// Credentials, detected once in NewIAM.
	Credentials *auth.Credentials
}

// IAM signs through the IAM Credentials API. It is safe for concurrent
// use; Close releases its connections.
type IAM struct {
	client  *credentials.IamCredentialsClient
	creds   *auth.Credentials
	email   string
	timeout time.Duration
	slots   chan struct{}
}

// NewIAM detects the credentials (unless cfg has them), works out which
// account to sign as, and builds the IAM Credentials REST client. No token
// is fetched and no RPC is made yet.
func NewIAM(ctx context.Context, cfg IAMConfig) (*IAM, error) {
	if cfg.Timeout < 0 || cfg.Concurrency < 0 {
		return nil, errIAMNegative
	}
	creds := cfg.Credentials
	if creds == nil {
		var err error
		creds, err = authcreds.DetectDefault(&authcreds.DetectOptions{Scopes: []string{cloudPlatformScope}})
		if err != nil {
			return nil, fmt.Errorf("gcs: iam: application default credentials: %w", err)
		}
	}
	email := cfg.ServiceAccount
	if email == "" {
		var err error
		if email, err = ownEmail(ctx, creds); err != nil {
			return nil, fmt.Errorf("gcs: iam: %w", err)
		}
	}
	opts := []option.ClientOption{option.WithAuthCredentials(creds)}
	if cfg.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(cfg.Endpoint))
	}
	client, err := credentials.NewIamCredentialsRESTClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("gcs: iam: client: %w", err)
	}
	return &IAM{
		client:  client,
		creds:   creds,
		email:   email,
		timeout: cmpOr(cfg.Timeout, DefaultSignBlobTimeout),
		slots:   make(chan struct{}, cmpOr(cfg.Concurrency, DefaultSignBlobConcurrency)),
	}, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// ownEmail is the account of the credentials themselves: a credentials
// file's client_email, or the metadata server's default account.
func ownEmail(ctx context.Context, creds *auth.Credentials) (string, error) {
	if raw := creds.JSON(); len(raw) > 0 {
		var f struct {
			ClientEmail string `json:"client_email"`
		}
		if err := json.Unmarshal(raw, &f); err == nil && f.ClientEmail != "" {
			return f.ClientEmail, nil
		}
		return "", errors.New("the application default credentials name no service account: set impersonate_service_account")
	}
	if !metadata.OnGCEWithContext(ctx) {
		return "", errors.New("no service account to sign as: set impersonate_service_account, or run where the metadata server is")
	}
	email, err := metadata.EmailWithContext(ctx, "default")
	if err != nil {
		return "", fmt.Errorf("metadata server: service account email: %w", err)
	}
	return email, nil
}

// Email is the account URLs are signed as.
func (m *IAM) Email() string { return m.email }

// Concurrency is how many signBlob calls may be in flight at once; a batch
// needs that many workers to keep them busy.
func (m *IAM) Concurrency() int { return cap(m.slots) }

// Close releases the client's connections.
func (m *IAM) Close() error { return m.client.Close() }

// acquire takes one of the bounded slots, or fails when ctx ends first.
func (m *IAM) acquire(ctx context.Context) (release func(), err error) {
	select {
	case m.slots <- struct{}{}:
		return func() { <-m.slots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// signBlob returns Google's RSA-SHA256 signature of b by the account. Any
// failure, a timeout or an answer that is not a signature is wrapped in
// signer.ErrUnavailable: no URL is made without a signature.
func (m *IAM) signBlob(ctx context.Context, b []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	resp, err := m.client.SignBlob(ctx, &credentialspb.SignBlobRequest{
		Name:    "projects/-/serviceAccounts/" + m.email,
		Payload: b,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: iam signBlob as %s: %w", signer.ErrUnavailable, m.email, err)
	}
	// Google's service-account keys are RSA 2048; any other length is not
	// a signature this account could have made.
	if n := len(resp.GetSignedBlob()); n != 256 {
		return nil, fmt.Errorf("%w: iam signBlob as %s: signature of %d bytes, want 256", signer.ErrUnavailable, m.email, n)
	}
	return resp.GetSignedBlob(), nil
}

// Check obtains an access token for the calls, so that readiness reports
// whether the connector can authenticate; it does not sign.
func (m *IAM) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	if _, err := m.creds.Token(ctx); err != nil {
		return fmt.Errorf("gcs: iam: access token: %w", err)
	}
	return nil
}

// WithIAM signs every URL through m.SignBlob as m.Email(), with at most
// m.Concurrency() calls in flight. ServiceAccountJSON is then ignored.
func WithIAM(m *IAM) Option {
	return func(s *Signer) { s.iam, s.accessID = m, m.email }
}

// probeBlob is what a readiness check asks signBlob to sign.
var probeBlob = []byte("signgate readiness probe")

// Check reports whether the signer can sign now: with a key file always;
// through IAM when a signBlob of a probe succeeds, which proves both the
// token and the permission to sign as the account.
func (s *Signer) Check(ctx context.Context) signer.Readiness {
	if s.iam == nil {
		return signer.Readiness{Ready: true, Credential: "service account key"}
	}
	r := signer.Readiness{Credential: "IAM signBlob"}
	release, err := s.iam.acquire(ctx)
	if err == nil {
		_, err = s.iam.signBlob(ctx, probeBlob)
		release()
	}
	r.Ready, r.Err = err == nil, err
	return r
}

var _ signer.Checker = (*Signer)(nil)
