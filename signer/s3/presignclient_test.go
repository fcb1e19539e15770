package s3

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/signgate/signgate/signer"
)

// TestAgreesWithPresignClient compares Sign with the S3 client's own
// presigner on everything the signature covers but the time: method, host,
// escaped path, signed headers, credential scope and expiry. The presigner
// cannot be given a clock, and it adds x-id=<Operation>, so signatures
// themselves are compared by the vector tests instead.
func TestAgreesWithPresignClient(t *testing.T) {
	creds := StaticCredentials(exampleKeyID, exampleSecret)
	tests := []struct {
		name          string
		givenEndpoint string
		givenOp       signer.Operation
		givenKey      string
		givenType     string
	}{
		{"virtual-hosted read", "", signer.OpRead, "ünï/a+b%c=d&e?f#g;h:i@j,k!l'm(n)o*p$q~.txt", ""},
		{"path-style write with content type", "http://127.0.0.1:7070", signer.OpWrite, "team a/Q1 report.pdf", "application/pdf"},
		{"path-style delete", "http://127.0.0.1:7070", signer.OpDelete, "/leading//double", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := awss3.Options{Region: "us-east-1", Credentials: creds}
			if tt.givenEndpoint != "" {
				opts.BaseEndpoint, opts.UsePathStyle = aws.String(tt.givenEndpoint), true
			}
			presigner := awss3.NewPresignClient(awss3.New(opts))
			ctx, bucket, key := context.Background(), aws.String("examplebucket"), aws.String(tt.givenKey)
			expires := awss3.WithPresignExpires(15 * time.Minute)
			var wantURL string
			var err error
			switch tt.givenOp {
			case signer.OpRead:
				r, e := presigner.PresignGetObject(ctx, &awss3.GetObjectInput{Bucket: bucket, Key: key}, expires)
				wantURL, err = r.URL, e
			case signer.OpWrite:
				in := &awss3.PutObjectInput{Bucket: bucket, Key: key}
				if tt.givenType != "" {
					in.ContentType = aws.String(tt.givenType)
				}
				r, e := presigner.PresignPutObject(ctx, in, expires)
				wantURL, err = r.URL, e
			case signer.OpDelete:
				r, e := presigner.PresignDeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: bucket, Key: key}, expires)
				wantURL, err = r.URL, e
			}
			if err != nil {
				t.Fatal(err)
			}
			want, _ := url.Parse(wantURL)
			s, err := New(Config{Bucket: "examplebucket", Region: "us-east-1", Endpoint: tt.givenEndpoint, Credentials: creds})
			if err != nil {
				t.Fatal(err)
			}
			signed, err := s.Sign(ctx, signer.Grant{Key: tt.givenKey, Operation: tt.givenOp, TTL: 15 * time.Minute, ContentType: tt.givenType})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := url.Parse(signed.URL)
			if got.Scheme != want.Scheme || got.Host != want.Host || got.EscapedPath() != want.EscapedPath() {
				t.Errorf("URL %s://%s%s\nwant %s://%s%s", got.Scheme, got.Host, got.EscapedPath(), want.Scheme, want.Host, want.EscapedPath())
			}
			for _, p := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Expires", "X-Amz-SignedHeaders"} {
				if got.Query().Get(p) != want.Query().Get(p) {
					t.Errorf("%s = %q, presigner %q", p, got.Query().Get(p), want.Query().Get(p))
				}
			}
		})
	}
}

// BenchmarkPresignClient is what Sign would cost through the S3 client's
// middleware stack, for comparison with BenchmarkSign.
func BenchmarkPresignClient(b *testing.B) {
	presigner := awss3.NewPresignClient(awss3.New(awss3.Options{Region: "us-east-1", Credentials: StaticCredentials(exampleKeyID, exampleSecret)}))
	in := &awss3.PutObjectInput{Bucket: aws.String("examplebucket"), Key: aws.String("team a/2024/report.pdf"), ContentType: aws.String("application/pdf")}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := presigner.PresignPutObject(ctx, in, awss3.WithPresignExpires(15*time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
}
