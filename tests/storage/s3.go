package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3 is a running versitygw gateway with a posix backend in a temp dir.
type S3 struct {
	Endpoint  string // http://127.0.0.1:PORT, path-style
	Region    string
	AccessKey string
	SecretKey string
	Process   *Process
	client    *s3.Client
}

// StartS3 starts versitygw with root credentials accessKey/secretKey,
// storing buckets under dir.
func StartS3(ctx context.Context, dir, accessKey, secretKey string) (*S3, error) {
	return StartS3At(ctx, dir, 0, accessKey, secretKey)
}

// StartS3At is StartS3 on a given port (0: a free one).
func StartS3At(ctx context.Context, dir string, port int, accessKey, secretKey string) (*S3, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	exe, err := findBinary(filepath.Join(bin, "versitygw"), "versitygw")
	if err != nil {
		return nil, err
	}
	root := filepath.Join(dir, "versitygw")
	// Metadata (content types, part ETags, which CompleteMultipartUpload
	// checks) lives in sidecar files: xattrs are not on every temp dir.
	sidecar := filepath.Join(dir, "s3-sidecar")
	for _, d := range []string{root, sidecar} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	srv := &S3{Region: "us-east-1", AccessKey: accessKey, SecretKey: secretKey}
	argv := func(port int) []string {
		return []string{exe,
			"--port", hostPort(port),
			"--access", accessKey, "--secret", secretKey,
			"--region", srv.Region,
			"--health", "/health",
			"--quiet",
			"posix", "--sidecar", sidecar, root}
	}
	ready := func(ctx context.Context, port int) error {
		return wantStatus(ctx, "http://"+hostPort(port)+"/health", 200)
	}
	p, port, err := StartServerAt(ctx, "versitygw", dir, nil, port, argv, ready)
	if err != nil {
		return nil, err
	}
	srv.Process = p
	srv.Endpoint = "http://" + hostPort(port)
	srv.client = s3.New(s3.Options{
		Region:       srv.Region,
		BaseEndpoint: aws.String(srv.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
	})
	return srv, nil
}

// Client is an S3 client with the root credentials, for set-up and checks.
func (s *S3) Client() *s3.Client { return s.client }

// CreateBucket creates a bucket.
func (s *S3) CreateBucket(ctx context.Context, name string) error {
	if _, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		return fmt.Errorf("s3: create bucket %q: %w", name, err)
	}
	return nil
}

// Stop ends versitygw.
func (s *S3) Stop() { s.Process.Stop() }

// PutObject stores an object with the root credentials (set-up only).
func (s *S3) PutObject(ctx context.Context, bucket, key string, data []byte) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data),
	})
	if err != nil {
		return fmt.Errorf("s3: put %s/%s: %w", bucket, key, err)
	}
	return nil
}

// GetObject reads an object with the root credentials (checks only). It
// returns found=false when there is no such key.
func (s *S3) GetObject(ctx context.Context, bucket, key string) (data []byte, found bool, err error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	var nsk *types.NoSuchKey
	switch {
	case errors.As(err, &nsk):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("s3: get %s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	data, err = io.ReadAll(out.Body)
	return data, err == nil, err
}
