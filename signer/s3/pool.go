package s3

import (
	"context"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// Pool shares what S3 connectors with the same credentials can share: one
// credentials cache per static key pair, one default credential chain, one
// SigV4 signer per credentials provider, and one S3 API client (for
// multipart uploads and POST policies) per provider, region and endpoint. A thousand connectors on one
// key pair then hold one of each instead of a thousand.
//
// A SigV4 signer is never shared between two providers: the SDK caches its
// derived signing key by region and access key ID alone, so two secrets
// behind one key ID (two S3-compatible servers, say) must not meet in it.
// A Pool is safe for concurrent use; the zero value is not, use NewPool.
type Pool struct {
	mu      sync.Mutex
	static  map[staticPair]*aws.CredentialsCache
	chains  map[time.Duration]aws.CredentialsProvider // by minimum credential lifetime
	signers map[*aws.CredentialsCache]*v4.Signer
	apis    map[apiKey]*awss3.Client
}

// apiKey is what an S3 API client depends on: the bucket is an argument
// of each call, not part of the client.
type apiKey struct {
	creds     aws.CredentialsProvider // always an *aws.CredentialsCache
	region    string
	endpoint  string
	pathStyle bool
}

type staticPair struct{ id, secret string }

// NewPool returns an empty Pool.
func NewPool() *Pool {
	return &Pool{
		static:  map[staticPair]*aws.CredentialsCache{},
		chains:  map[time.Duration]aws.CredentialsProvider{},
		signers: map[*aws.CredentialsCache]*v4.Signer{},
		apis:    map[apiKey]*awss3.Client{},
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
// once per minimum credential lifetime (see DefaultCredentials and
// WithMinCredentialLifetime): every connector without keys of its own and
// with the same minimum lifetime shares its cache and its refreshes. A
// connector that asks for more lifetime than the chain gives invalidates
// the cache on each URL it asks for; connectors that ask for less keep
// their own cache and are not refreshed with it.
func (p *Pool) DefaultCredentials(ctx context.Context, minLifetime time.Duration) (aws.CredentialsProvider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.chains[minLifetime]; ok {
		return c, nil
	}
	c, err := DefaultCredentials(ctx)
	if err != nil {
		return nil, err
	}
	if _, cached := c.(*aws.CredentialsCache); !cached {
		c = aws.NewCredentialsCache(c)
	}
	p.chains[minLifetime] = c
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

// apiClient returns the S3 API client for s's credentials, region and
// endpoint, made on first use: signers of many buckets on one key pair
// then share one client, with its HTTP transport and connections.
func (p *Pool) apiClient(s *Signer) *awss3.Client {
	o := apiOptions(s)
	k := apiKey{creds: s.creds, region: o.Region, endpoint: aws.ToString(o.BaseEndpoint), pathStyle: o.UsePathStyle}
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.apis[k]
	if !ok {
		c = awss3.New(o)
		p.apis[k] = c
	}
	return c
}

// WithPool makes the Signer share p's SigV4 signer for its credentials
// with the other signers of p on the same credentials; with credentials
// from p (StaticCredentials, DefaultCredentials) it shares their cache too.
// A nil p keeps a signer of its own.
func WithPool(p *Pool) Option {
	return func(s *Signer) { s.pool = p }
}
