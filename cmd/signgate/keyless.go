package main

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/signgate/signgate/server/config"
	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/azblob"
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

// buildAzureUserDelegation makes an Azure signer that signs user-delegation
// SAS with a key obtained through Microsoft Entra ID. The identity comes
// from azidentity's default chain: environment (client secret or
// certificate), workload identity, managed identity, Azure CLI.
func buildAzureUserDelegation(cn config.Connector) (signer.Signer, error) {
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("azure: entra id credential: %w", err)
	}
	return azblob.New(azblob.Config{
		Container:             cn.Container,
		Endpoint:              cn.Endpoint,
		AccountName:           cn.Credentials.AccountName,
		TokenCredential:       cred,
		DelegationKeyLifetime: cn.Credentials.DelegationKeyLifetime.Duration,
	})
}
