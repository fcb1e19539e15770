package gcs

import (
	"crypto/sha256"
	"sync"
)

// Pool shares parsed service-account keys between the GCS connectors built
// through it: connectors that sign as one account hold one parsed RSA key
// (with its precomputed values) instead of one each. It is safe for
// concurrent use; the zero value is not, use NewPool.
type Pool struct {
	mu   sync.Mutex
	keys map[[sha256.Size]byte]ServiceAccount
}

// NewPool returns an empty Pool.
func NewPool() *Pool {
	return &Pool{keys: map[[sha256.Size]byte]ServiceAccount{}}
}

// ServiceAccount parses a service-account key file as
// ParseServiceAccountJSON does, once per distinct file content; a file
// that does not parse is not remembered.
func (p *Pool) ServiceAccount(keyJSON []byte) (ServiceAccount, error) {
	sum := sha256.Sum256(keyJSON)
	p.mu.Lock()
	defer p.mu.Unlock()
	if sa, ok := p.keys[sum]; ok {
		return sa, nil
	}
	sa, err := ParseServiceAccountJSON(keyJSON)
	if err != nil {
		return ServiceAccount{}, err
	}
	p.keys[sum] = sa
	return sa, nil
}

// WithServiceAccount signs with an already parsed service account, e.g.
// one from a Pool. Config.ServiceAccountJSON is then ignored and may be
// empty.
func WithServiceAccount(sa ServiceAccount) Option {
	return func(s *Signer) {
		if sa.Key != nil {
			s.accessID, s.signBytes = sa.Email, signWith(sa.Key)
		}
	}
}
