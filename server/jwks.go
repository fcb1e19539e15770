package server

// The JWKS side of JWT authentication: fetching, caching, rate-limited
// refetching on an unknown kid, and which keys may verify at all.

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// key finds the verification key for kid, refetching the JWKS once (rate
// limited) when kid is unknown. A token without a kid is accepted only
// when the set holds exactly one key; it never triggers a refetch.
func (j *JWT) key(kid string) (jwk.Key, bool) {
	if k, ok := j.keys.Load().lookup(kid); ok {
		return k, true
	}
	if kid == "" || j.jwksURL == "" {
		return nil, false
	}
	j.refresh()
	return j.keys.Load().lookup(kid)
}

// refresh refetches the JWKS unless the last attempt, successful or not,
// was within the refresh interval. Callers that arrive while a fetch runs
// wait for it and then see its result instead of fetching again. A failed
// fetch keeps the previous keys.
func (j *JWT) refresh() {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := j.now()
	if now.Sub(j.lastFetch) < j.minInterval {
		return
	}
	j.lastFetch = now
	set, err := j.fetch(context.Background())
	if err == nil {
		var ks *keySet
		if ks, err = newKeySet(set); err == nil {
			j.keys.Store(ks)
			return
		}
	}
	j.log.Warn("jwks refresh failed; keeping the previous keys", "jwks_url", j.jwksURL, "error", err.Error())
}

func (j *JWT) fetch(ctx context.Context) (jwk.Set, error) {
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	set, err := jwk.Fetch(ctx, j.jwksURL, jwk.WithHTTPClient(j.client), jwk.WithMaxFetchBodySize(jwksMaxBytes))
	if err != nil {
		return nil, fmt.Errorf("jwt: fetch jwks: %w", err)
	}
	return set, nil
}

// keySet is an immutable view of the usable keys of one JWKS.
type keySet struct {
	byKID map[string]jwk.Key
	only  jwk.Key // the sole key, when the set has exactly one
}

// newKeySet keeps the public half of each asymmetric signing key. Keys
// meant for encryption, symmetric keys and keys that fail validation are
// dropped; a kid used twice makes the set ambiguous and is refused.
func newKeySet(set jwk.Set) (*keySet, error) {
	ks := &keySet{byKID: map[string]jwk.Key{}}
	var usable []jwk.Key
	for i := range set.Len() {
		k, _ := set.Key(i)
		if !usableForVerify(k) {
			continue
		}
		pub, err := k.PublicKey()
		if err != nil || pub.Validate() != nil || !strongEnough(pub) {
			continue
		}
		if kid, ok := pub.KeyID(); ok && kid != "" {
			if _, dup := ks.byKID[kid]; dup {
				return nil, fmt.Errorf("jwt: jwks has kid %q twice", kid)
			}
			ks.byKID[kid] = pub
		}
		usable = append(usable, pub)
	}
	if len(usable) == 0 {
		return nil, errors.New("jwt: jwks has no usable signature verification key")
	}
	if len(usable) == 1 {
		ks.only = usable[0]
	}
	return ks, nil
}

func usableForVerify(k jwk.Key) bool {
	switch k.KeyType() {
	case jwa.RSA(), jwa.EC(), jwa.OKP():
	default:
		return false
	}
	if use, ok := k.KeyUsage(); ok && use != "sig" {
		return false
	}
	if ops, ok := k.KeyOps(); ok && !slices.Contains(ops, jwk.KeyOpVerify) {
		return false
	}
	return true
}

// strongEnough applies signgate's own RSA floor. jwx has one, but it is
// process-wide and OPA's topdown package sets it to zero at init, so it
// cannot be relied on in a binary that links OPA.
func strongEnough(k jwk.Key) bool {
	if k.KeyType() != jwa.RSA() {
		return true
	}
	// Exported through any: jwx v3.4.0 has no exporter for a
	// **rsa.PublicKey destination.
	var raw any
	if err := jwk.Export(k, &raw); err != nil {
		return false
	}
	pub, ok := raw.(*rsa.PublicKey)
	return ok && pub.N.BitLen() >= minRSABits && pub.E >= 3
}

// ecKeyFits binds ES256 to P-256 and ES384 to P-384 (RFC 7518 §3.4),
// which jwx does not check on verify, and keeps EC keys to ES algorithms.
// Other key types are left to jwx, which refuses a key of the wrong type.
func ecKeyFits(k jwk.Key, alg jwa.SignatureAlgorithm) bool {
	ec, ok := k.(jwk.ECDSAPublicKey)
	if !ok {
		return true
	}
	crv, _ := ec.Crv()
	switch alg {
	case jwa.ES256():
		return crv == jwa.P256()
	case jwa.ES384():
		return crv == jwa.P384()
	}
	return false
}

func (ks *keySet) lookup(kid string) (jwk.Key, bool) {
	if kid == "" {
		return ks.only, ks.only != nil
	}
	k, ok := ks.byKID[kid]
	return k, ok
}
