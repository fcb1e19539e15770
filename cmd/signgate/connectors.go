package main

import (
	"context"
	"fmt"

	"github.com/signgate/signgate/server/config"
	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/azblob"
	"github.com/signgate/signgate/signer/gcs"
	"github.com/signgate/signgate/signer/s3"
)

// secretSource resolves a secret by environment variable name or file path.
type secretSource func(env, path string) (string, error)

// secret resolves a secret of the configuration file: an unset variable or
// an unreadable file is an error, never a default.
func secret(env, path string) (string, error) { return config.Secret(env, path) }

// buildSigners makes one signer per configured connector. Secrets are read
// once here, from secrets (secret, or dev mode's own table); an error names
// the connector and the source, never a value. Connectors with the same
// credentials share their SDK clients (pools.go).
func buildSigners(ctx context.Context, cfg *config.Config, secrets secretSource) (map[string]signer.Signer, error) {
	out := make(map[string]signer.Signer, len(cfg.Connectors))
	pools := newConnectorPools()
	for _, name := range cfg.ConnectorNames() {
		cn := cfg.Connectors[name]
		sg, err := buildSigner(ctx, pools, cn, secrets, func() ([]string, error) { return connectorPrefixes(cfg, name) })
		if err != nil {
			return nil, fmt.Errorf("connector %s: %w", name, err)
		}
		out[name] = sg
	}
	return out, nil
}

// buildSigner makes the signer of cn. prefixes lists the object prefixes
// of the teams on it, for an assumed role's session policy (keyless.go).
func buildSigner(ctx context.Context, pools *connectorPools, cn config.Connector, secret secretSource, prefixes func() ([]string, error)) (signer.Signer, error) {
	cr := cn.Credentials
	switch cn.Provider {
	case "s3":
		cfg := s3.Config{Bucket: cn.Bucket, Region: cn.Region, Endpoint: cn.Endpoint}
		if cr.AccessKeyIDEnv == "" && cr.AccessKeyIDFile == "" {
			creds, err := pools.s3.DefaultCredentials(ctx, cr.MinLifetime.Duration)
			if err != nil {
				return nil, err
			}
			cfg.Credentials = creds
		} else {
			id, err := secret(cr.AccessKeyIDEnv, cr.AccessKeyIDFile)
			if err != nil {
				return nil, fmt.Errorf("access key id: %w", err)
			}
			sk, err := secret(cr.SecretAccessKeyEnv, cr.SecretAccessKeyFile)
			if err != nil {
				return nil, fmt.Errorf("secret access key: %w", err)
			}
			cfg.Credentials = pools.s3.StaticCredentials(id, sk)
		}
		if cr.RoleARN != "" {
			creds, err := assumeRole(cn, cfg.Credentials, prefixes) // keyless.go
			if err != nil {
				return nil, err
			}
			cfg.Credentials = creds
		}
		return s3.New(cfg, s3.WithMinCredentialLifetime(cr.MinLifetime.Duration), s3.WithPool(pools.s3))
	case "gcs":
		if cr.GCSKeyless() {
			return buildGCSIAM(ctx, cn, pools) // keyless.go
		}
		saJSON, err := secret("", cr.ServiceAccountFile)
		if err != nil {
			return nil, fmt.Errorf("service account: %w", err)
		}
		sa, err := pools.gcs.ServiceAccount([]byte(saJSON))
		if err != nil {
			return nil, fmt.Errorf("gcs: config: %w", err)
		}
		return gcs.New(gcs.Config{Bucket: cn.Bucket, Endpoint: cn.Endpoint}, gcs.WithServiceAccount(sa))
	case "azure":
		if cr.UserDelegation {
			return buildAzureUserDelegation(cn, pools) // keyless.go
		}
		key, err := secret(cr.AccountKeyEnv, cr.AccountKeyFile)
		if err != nil {
			return nil, fmt.Errorf("account key: %w", err)
		}
		return azblob.New(azblob.Config{Container: cn.Container, Endpoint: cn.Endpoint, AccountName: cr.AccountName, AccountKey: key})
	}
	return nil, fmt.Errorf("unknown provider %q", cn.Provider)
}
