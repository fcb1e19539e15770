package azblob

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/signgate/signgate/signer"
)

// MaxDelegationKeyLifetime is the longest user delegation key signgate
// asks for. Azure allows 7 days from its own clock; a quarter of an hour
// less leaves room for a clock that runs ahead of Azure's.
const MaxDelegationKeyLifetime = 7*24*time.Hour - 15*time.Minute

// keyStartSkew backdates a key's start, so that a service whose clock runs
// a little behind ours does not see it as not yet valid.
const keyStartSkew = 5 * time.Minute

// delegationKeys holds the current user delegation key of one account and
// gets a new one, through Microsoft Entra ID, once half of its life is
// gone. A URL never outlives the key that signed it.
type delegationKeys struct {
	client   *service.Client
	lifetime time.Duration
	timeout  time.Duration

	mu      sync.Mutex
	cred    *service.UserDelegationCredential
	expires time.Time // the key's signed expiry
	renewAt time.Time
	// renewing is true while a background renewal runs.
	renewing bool

	fetches atomic.Int64 // keys obtained, for tests and readiness
}

// newDelegationKeys builds the service client that asks for keys with
// cred; nothing is fetched yet.
func newDelegationKeys(serviceURL string, cred azcore.TokenCredential, lifetime time.Duration, opts *service.ClientOptions) (*delegationKeys, error) {
	if lifetime <= 0 || lifetime > MaxDelegationKeyLifetime {
		lifetime = MaxDelegationKeyLifetime
	}
	client, err := service.NewClient(serviceURL, cred, opts)
	if err != nil {
		return nil, fmt.Errorf("azblob: config: service client: %w", err)
	}
	return &delegationKeys{client: client, lifetime: lifetime, timeout: 30 * time.Second}, nil
}

// credential returns a key that is valid at at, and its expiry. Once half
// of a key's life is gone, a new one is fetched in the background while
// the current one keeps signing; only when no key lives at least
// signer.DefaultMinCredentialLifetime more does the caller wait for the
// fetch, and fail with it.
func (d *delegationKeys) credential(ctx context.Context, at time.Time) (*service.UserDelegationCredential, time.Time, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	usable := d.cred != nil && d.expires.Sub(at) >= signer.DefaultMinCredentialLifetime
	switch {
	case usable && at.Before(d.renewAt):
		return d.cred, d.expires, nil
	case usable:
		if !d.renewing {
			d.renewing = true
			go d.renewInBackground(at)
		}
		return d.cred, d.expires, nil
	}
	cred, expires, err := d.fetch(ctx, at)
	if err != nil {
		return nil, time.Time{}, err
	}
	d.cred, d.expires, d.renewAt = cred, expires, at.Add(d.lifetime/2)
	return cred, expires, nil
}

// renewInBackground replaces the key; a failure leaves the current one,
// and the next credential call after it tries again.
func (d *delegationKeys) renewInBackground(at time.Time) {
	defer func() {
		_ = recover() // a panic in the SDK must not take the process down
		d.mu.Lock()
		d.renewing = false
		d.mu.Unlock()
	}()
	cred, expires, err := d.fetch(context.Background(), at)
	if err != nil {
		return
	}
	d.mu.Lock()
	d.cred, d.expires, d.renewAt = cred, expires, at.Add(d.lifetime/2)
	d.mu.Unlock()
}

// fetch asks Azure for a key valid from a little before at for the
// configured lifetime.
func (d *delegationKeys) fetch(ctx context.Context, at time.Time) (*service.UserDelegationCredential, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	start, expires := at.Add(-keyStartSkew), at.Add(d.lifetime)
	cred, err := d.client.GetUserDelegationCredential(ctx, service.KeyInfo{
		Start:  ptr(start.UTC().Format(sas.TimeFormat)),
		Expiry: ptr(expires.UTC().Format(sas.TimeFormat)),
	}, nil)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: get user delegation key: %w", signer.ErrUnavailable, err)
	}
	d.fetches.Add(1)
	return cred, expires, nil
}

func ptr[T any](v T) *T { return &v }

// Check reports whether the signer can sign now: with the account key
// always, with user delegation once a key is in hand (fetched if needed).
func (s *Signer) Check(ctx context.Context) signer.Readiness {
	if s.keys == nil {
		return signer.Readiness{Ready: true, Credential: "account key"}
	}
	_, expires, err := s.keys.credential(ctx, s.now().UTC())
	if err != nil {
		return signer.Readiness{Credential: "user delegation key", Err: err}
	}
	return signer.Readiness{Ready: true, Credential: "user delegation key", ValidUntil: expires}
}

var _ signer.Checker = (*Signer)(nil)
