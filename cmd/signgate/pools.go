package main

import (
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/signgate/signgate/signer/gcs"
	"github.com/signgate/signgate/signer/s3"
)

// connectorPools holds what the connectors of one configuration share when
// their credentials are the same: S3 credential caches and SigV4 signers,
// parsed GCS service-account keys and IAM Credentials clients, and one
// Microsoft Entra ID credential (azidentity's default chain, with its token
// cache) for every user-delegation connector. A configuration has one,
// used while its connectors are built.
type connectorPools struct {
	s3  *s3.Pool
	gcs *gcs.Pool

	azure    azcore.TokenCredential
	azureErr error
}

func newConnectorPools() *connectorPools {
	return &connectorPools{s3: s3.NewPool(), gcs: gcs.NewPool()}
}

// entraID returns the Entra ID credential, made on first use. The default
// chain reads only the environment and well-known files, so its answer is
// the same for every connector of the configuration.
func (p *connectorPools) entraID() (azcore.TokenCredential, error) {
	if p.azure == nil && p.azureErr == nil {
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			p.azureErr = fmt.Errorf("azure: entra id credential: %w", err)
		} else {
			p.azure = cred
		}
	}
	return p.azure, p.azureErr
}
