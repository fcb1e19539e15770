package s3

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/signertest"
)

// AWS's documented example keys.
const (
	exampleKeyID  = "AKIAIOSFODNN7EXAMPLE"
	exampleSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

func TestConformance(t *testing.T) {
	signingTime, expiry := signertest.DateExpires("X-Amz-Date", "X-Amz-Expires")
	tests := []struct {
		name             string
		givenEndpoint    string
		wantScheme       string
		wantHost         string
		wantPathPrefix   string
		givenBucket      string
		givenCredentials aws.CredentialsProvider
	}{
		{"virtual-hosted on AWS", "", "https", "examplebucket.s3.us-east-1.amazonaws.com", "", "examplebucket", nil},
		{"path-style on AWS for a dotted bucket", "", "https", "s3.us-east-1.amazonaws.com", "/example.bucket", "example.bucket", nil},
		{"path-style on an S3-compatible endpoint", "http://127.0.0.1:7070", "http", "127.0.0.1:7070", "/examplebucket", "examplebucket", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			makeSigner := func(creds aws.CredentialsProvider) func(*testing.T, signer.Clock) signer.Signer {
				return func(t *testing.T, clock signer.Clock) signer.Signer {
					s, err := New(Config{Bucket: tt.givenBucket, Region: "us-east-1", Endpoint: tt.givenEndpoint, Credentials: creds}, WithClock(clock))
					if err != nil {
						t.Fatalf("New: %v", err)
					}
					return s
				}
			}
			failing := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{}, errors.New("no credentials today")
			})
			signertest.Run(t, signertest.Harness{
				Provider:           "s3",
				Bucket:             tt.givenBucket,
				MakeSigner:         makeSigner(StaticCredentials(exampleKeyID, exampleSecret)),
				MakeFailingSigner:  makeSigner(failing),
				Scheme:             tt.wantScheme,
				Host:               tt.wantHost,
				PathPrefix:         tt.wantPathPrefix,
				SigningTime:        signingTime,
				Expiry:             expiry,
				SignedHeadersParam: "X-Amz-SignedHeaders",
				SignatureParam:     "X-Amz-Signature",
				DecisionIDSigned:   true,
			})
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	creds := StaticCredentials(exampleKeyID, exampleSecret)
	tests := []struct {
		name  string
		given Config
	}{
		{"no bucket", Config{Region: "us-east-1", Credentials: creds}},
		{"no region", Config{Bucket: "b", Credentials: creds}},
		{"no credentials", Config{Bucket: "b", Region: "us-east-1"}},
		{"bucket with a slash", Config{Bucket: "a/b", Region: "us-east-1", Credentials: creds}},
		{"endpoint without scheme", Config{Bucket: "b", Region: "us-east-1", Credentials: creds, Endpoint: "127.0.0.1:7070"}},
		{"endpoint with a path", Config{Bucket: "b", Region: "us-east-1", Credentials: creds, Endpoint: "http://h/prefix"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.given); err == nil {
				t.Error("New: err = nil, want an error")
			}
		})
	}
}

func TestSessionTokenIsSigned(t *testing.T) {
	creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: exampleKeyID, SecretAccessKey: exampleSecret, SessionToken: "tok+en/="}, nil
	})
	s, err := New(Config{Bucket: "examplebucket", Region: "us-east-1", Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Sign(context.Background(), signer.Grant{Key: "k", Operation: signer.OpRead, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if want := "X-Amz-Security-Token=tok%2Ben%2F%3D"; !strings.Contains(got.URL, want) {
		t.Errorf("URL %s lacks %s", got.URL, want)
	}
}

func TestDefaultCredentialsReadTheEnvironment(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", exampleKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", exampleSecret)
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	provider, err := DefaultCredentials(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	creds, err := provider.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID != exampleKeyID || creds.SecretAccessKey != exampleSecret {
		t.Errorf("got key %q", creds.AccessKeyID)
	}
}

func BenchmarkSign(b *testing.B) {
	s, err := New(Config{Bucket: "examplebucket", Region: "us-east-1", Credentials: StaticCredentials(exampleKeyID, exampleSecret)})
	if err != nil {
		b.Fatal(err)
	}
	g := signer.Grant{Key: "team a/2024/report.pdf", Operation: signer.OpWrite, TTL: 15 * time.Minute, ContentType: "application/pdf"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(ctx, g); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignRead is the URL the server signs most: a read of a key that
// needs no escaping, with the decision id in the signed query.
func BenchmarkSignRead(b *testing.B) {
	s, err := New(Config{Bucket: "examplebucket", Region: "us-east-1", Credentials: StaticCredentials(exampleKeyID, exampleSecret)})
	if err != nil {
		b.Fatal(err)
	}
	g := signer.Grant{Key: "vision/runs/42/model.pt", Operation: signer.OpRead, TTL: 15 * time.Minute, DecisionID: "7d3c2a7e-51b4-4f0e-9a43-1c2b8f1e6d55"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(ctx, g); err != nil {
			b.Fatal(err)
		}
	}
}
