package s3

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/signgate/signgate/signer"
)

func TestPoolSharesByCredentials(t *testing.T) {
	pool := NewPool()
	build := func(bucket, region string, creds aws.CredentialsProvider) *Signer {
		t.Helper()
		s, err := New(Config{Bucket: bucket, Region: region, Credentials: creds}, WithPool(pool))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := build("bucket-a", "us-east-1", pool.StaticCredentials(exampleKeyID, exampleSecret))
	b := build("bucket-b", "eu-west-1", pool.StaticCredentials(exampleKeyID, exampleSecret))
	// The same key ID with another secret (two S3-compatible servers): the
	// SDK's derived-key cache must not be shared with it.
	c := build("bucket-c", "us-east-1", pool.StaticCredentials(exampleKeyID, "another-secret"))
	d := build("bucket-d", "us-east-1", pool.StaticCredentials("AKIAOTHEREXAMPLE0000", exampleSecret))
	unpooled, err := New(Config{Bucket: "bucket-a", Region: "us-east-1", Credentials: StaticCredentials(exampleKeyID, exampleSecret)})
	if err != nil {
		t.Fatal(err)
	}

	if a.creds != b.creds || a.v4 != b.v4 {
		t.Error("two connectors with the same key pair do not share their credentials cache and SigV4 signer")
	}
	for name, other := range map[string]*Signer{"another secret": c, "another key id": d, "no pool": unpooled} {
		if other.creds == a.creds || other.v4 == a.v4 {
			t.Errorf("%s: shares the credentials cache or the SigV4 signer of another key pair", name)
		}
	}

	// Signing is unchanged: a pooled signer signs exactly as a signer of
	// its own, and one that shares a key ID but not the secret does not
	// reuse the other's derived key.
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	g := signer.Grant{Key: "team a/report.pdf", Operation: signer.OpRead, TTL: 15 * time.Minute}
	sign := func(s *Signer) string {
		t.Helper()
		s.now = func() time.Time { return at }
		out, err := s.Sign(context.Background(), g)
		if err != nil {
			t.Fatal(err)
		}
		return out.URL
	}
	if got, want := sign(a), sign(unpooled); got != want {
		t.Errorf("pooled URL\n%s\nwant the unpooled\n%s", got, want)
	}
	cOwn, err := New(Config{Bucket: "bucket-c", Region: "us-east-1", Credentials: StaticCredentials(exampleKeyID, "another-secret")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sign(c), sign(cOwn); got != want {
		t.Errorf("same key ID, other secret: pooled URL\n%s\nwant\n%s", got, want)
	}
}

func TestPoolLoadsTheDefaultChainOnce(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", exampleKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", exampleSecret)
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	pool := NewPool()
	a, err := pool.DefaultCredentials(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := pool.DefaultCredentials(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("the default chain was loaded twice")
	}
	// A connector that needs longer-lived credentials refreshes its own
	// cache, not the one the others sign with.
	c, err := pool.DefaultCredentials(context.Background(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if c == a {
		t.Error("connectors with different minimum credential lifetimes share one credentials cache")
	}
	if _, cached := a.(*aws.CredentialsCache); !cached {
		t.Errorf("default chain is a %T, want an *aws.CredentialsCache to share", a)
	}
	creds, err := a.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != exampleKeyID {
		t.Errorf("Retrieve = %q, %v", creds.AccessKeyID, err)
	}
}

func TestPoolSharesTheAPIClientOfARegionAndEndpoint(t *testing.T) {
	pool := NewPool()
	creds := pool.StaticCredentials(exampleKeyID, exampleSecret)
	build := func(bucket, region, endpoint string) *Signer {
		t.Helper()
		s, err := New(Config{Bucket: bucket, Region: region, Endpoint: endpoint, Credentials: creds}, WithPool(pool))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := build("bucket-a", "us-east-1", "")
	b := build("bucket-b", "us-east-1", "")
	if a.apiClient() != b.apiClient() {
		t.Error("two buckets of one region and key pair have two S3 API clients")
	}
	for name, other := range map[string]*Signer{
		"another region":       build("bucket-c", "eu-west-1", ""),
		"an S3-compatible one": build("bucket-d", "us-east-1", "http://127.0.0.1:7070"),
		"a path-style bucket":  build("bucket.e", "us-east-1", ""),
	} {
		if other.apiClient() == a.apiClient() {
			t.Errorf("%s shares the S3 API client of us-east-1 on AWS", name)
		}
	}
	f := build("bucket-f", "us-east-1", "http://127.0.0.1:7070")
	if got := f.apiClient().Options(); got.BaseEndpoint == nil || *got.BaseEndpoint != "http://127.0.0.1:7070" || !got.UsePathStyle {
		t.Errorf("S3-compatible client: endpoint %v, path style %v", got.BaseEndpoint, got.UsePathStyle)
	}
}
