package s3

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// StaticCredentials returns credentials for a fixed access key pair, e.g.
// from the environment or a secrets file.
func StaticCredentials(accessKeyID, secretAccessKey string) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(accessKeyID, secretAccessKey, "")
}

// DefaultCredentials returns the AWS SDK's default credential chain
// (environment, shared config files, SSO, web identity, ECS/EC2 roles).
// Nothing is fetched until the first Sign.
func DefaultCredentials(ctx context.Context) (aws.CredentialsProvider, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("s3: default credentials: %w", err)
	}
	if cfg.Credentials == nil {
		return nil, errors.New("s3: default credentials: none configured")
	}
	return cfg.Credentials, nil
}
