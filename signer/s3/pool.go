package s3

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Pool shares what S3 connectors with the same credentials can share: one
// credentials cache per static key pair, one default credential chain, and
// one SigV4 signer per credentials provider. A thousand connectors on one
// key pair then hold one of each instead of a thousand.
//
// A SigV4 signer is never shared between two providers: the SDK caches its
// derived signing key by region and access key ID alone, so two secrets
// behind one key ID (two S3-compatible servers, say) must not meet in it.
// A Pool is safe for concurrent use; the zero value is not, use NewPool.
type Pool struct {
	mu      sync.Mutex
	static  map[staticPair]*aws.CredentialsCache
	chain   aws.CredentialsProvider
	signers map[*aws.CredentialsCache]*v4.Signer
}

type staticPair struct{ id, secret string }

// NewPool returns an empty Pool.
func NewPool() *Pool {
	return &Pool{
		static:  map[staticPair]*aws.CredentialsCache{},
		signers: map[*aws.CredentialsCache]*v4.Signer{},
	}
}

// StaticCredentials returns the credentials cache of the key pair, the
// same one for every call with the same pair.
func (p *Pool) StaticCredentials(accessKeyID, secretAccessKey string) aws.CredentialsProvider {
	k := staticPair{accessKeyID, secretAccessKey}
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.static[k]
	if !ok {
		c = aws.NewCredentialsCache(StaticCredentials(accessKeyID, secretAccessKey))
		p.static[k] = c
	}
	return c
}

// DefaultCredentials returns the SDK's default credential chain, loaded
// once (see DefaultCredentials): every connector without keys of its own
// shares its cache and its refreshes.
func (p *Pool) DefaultCredentials(ctx context.Context) (aws.CredentialsProvider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.chain != nil {
		return p.chain, nil
	}
	c, err := DefaultCredentials(ctx)
	if err != nil {
		return nil, err
	}
	if _, cached := c.(*aws.CredentialsCache); !cached {
		c = aws.NewCredentialsCache(c)
	}
	p.chain = c
	return c, nil
}

// v4For returns the SigV4 signer of creds, made on first use.
func (p *Pool) v4For(creds *aws.CredentialsCache) *v4.Signer {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.signers[creds]
	if !ok {
		s = newV4Signer()
		p.signers[creds] = s
	}
	return s
}

// WithPool makes the Signer share p's SigV4 signer for its credentials
// with the other signers of p on the same credentials; with credentials
// from p (StaticCredentials, DefaultCredentials) it shares their cache too.
// A nil p keeps a signer of its own.
func WithPool(p *Pool) Option {
	return func(s *Signer) { s.pool = p }
}
