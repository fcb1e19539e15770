package gcs

import (
	"context"
	"crypto/sha256"
	"sync"
)

// Pool shares what GCS connectors that sign as one account can share: a
// parsed service-account key (with its precomputed values), or, signing
// through IAM, one IAM Credentials client with its credentials and token
// cache. It is safe for concurrent use; the zero value is not, use NewPool.
type Pool struct {
	mu   sync.Mutex
	keys map[[sha256.Size]byte]ServiceAccount
	iams map[iamKey]*IAM
}

// iamKey is what makes two IAM signers interchangeable, apart from their
// timeout and concurrency.
type iamKey struct{ account, endpoint string }

// NewPool returns an empty Pool.
func NewPool() *Pool {
	return &Pool{keys: map[[sha256.Size]byte]ServiceAccount{}, iams: map[iamKey]*IAM{}}
}

// IAM returns an IAM signer for cfg as NewIAM does. With Application
// Default Credentials (cfg.Credentials nil), signers for the same account
// and endpoint share the first one's client, credentials and token; each
// keeps its own Timeout and Concurrency bound. Close on any of them
// closes the shared client: close them only together.
func (p *Pool) IAM(ctx context.Context, cfg IAMConfig) (*IAM, error) {
	if cfg.Credentials != nil {
		return NewIAM(ctx, cfg)
	}
	k := iamKey{cfg.ServiceAccount, cfg.Endpoint}
	p.mu.Lock()
	defer p.mu.Unlock()
	base, ok := p.iams[k]
	if !ok {
		m, err := NewIAM(ctx, cfg)
		if err != nil {
			return nil, err
		}
		p.iams[k] = m
		return m, nil
	}
	if cfg.Timeout < 0 || cfg.Concurrency < 0 {
		return nil, errIAMNegative
	}
	return &IAM{
		client:  base.client,
		creds:   base.creds,
		email:   base.email,
		timeout: cmpOr(cfg.Timeout, DefaultSignBlobTimeout),
		slots:   make(chan struct{}, cmpOr(cfg.Concurrency, DefaultSignBlobConcurrency)),
	}, nil
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
