package main

import (
	"context"

	"github.com/signgate/signgate/server/config"
	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/gcs"
)

// buildGCSIAM makes a GCS signer that signs through the IAM Credentials
// API with Application Default Credentials: no key in the configuration.
func buildGCSIAM(ctx context.Context, cn config.Connector) (signer.Signer, error) {
	cr := cn.Credentials
	m, err := gcs.NewIAM(ctx, gcs.IAMConfig{
		ServiceAccount: cr.ImpersonateServiceAccount,
		Endpoint:       cr.IAMEndpoint,
		Timeout:        cr.SignTimeout.Duration,
		Concurrency:    cr.SignConcurrency,
	})
	if err != nil {
		return nil, err
	}
	s, err := gcs.New(gcs.Config{Bucket: cn.Bucket, Endpoint: cn.Endpoint}, gcs.WithIAM(m))
	if err != nil {
		_ = m.Close()
		return nil, err
	}
	return s, nil
}
