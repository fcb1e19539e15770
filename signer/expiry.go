package signer

import (
	"errors"
	"time"
)

// A URL dies when the credential that signed it dies (aws-sdk-go-v2#1557,
// boto3#2392), so an expiry is the earliest of what the policy granted,
// what the provider accepts, and what the credential lives. ClampedBy*
// name the last two, for Signed.ClampedBy and the API's expiry_clamped_by.
const (
	ClampedByCredential    = "credential"
	ClampedByProviderLimit = "provider_limit"
)

// DefaultMinCredentialLifetime is how long a signing credential must still
// live for a signer to sign with it without refreshing it first.
const DefaultMinCredentialLifetime = time.Minute

// ErrCredentialExpiring is returned when the signing credential expires
// within the minimum lifetime even after a refresh: no URL is worth issuing.
var ErrCredentialExpiring = errors.New("signer: signing credential expires too soon")

// ClampTTL caps a policy's TTL at MaxTTL, the longest lifetime SigV4 and
// GCS V4 accept (signgate holds Azure SAS to it too), and says so.
func ClampTTL(ttl time.Duration) (time.Duration, string) {
	if ttl > MaxTTL {
		return MaxTTL, ClampedByProviderLimit
	}
	return ttl, ""
}

// ClampToCredential returns the whole seconds a URL signed at at may live:
// secs, or fewer when a credential that expires at expires dies first, with
// ClampedByCredential. The result is floored, so at + result never passes
// expires. canExpire false means the credential does not expire.
func ClampToCredential(at time.Time, secs int64, canExpire bool, expires time.Time) (int64, string) {
	if !canExpire {
		return secs, ""
	}
	left := int64(expires.Sub(at) / time.Second)
	if left < secs {
		return left, ClampedByCredential
	}
	return secs, ""
}
