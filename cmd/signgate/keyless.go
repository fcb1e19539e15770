package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/signgate/signgate/server/config"
	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/azblob"
	"github.com/signgate/signgate/signer/gcs"
	"github.com/signgate/signgate/signer/s3"
)

// buildGCSIAM makes a GCS signer that signs through the IAM Credentials
// API with Application Default Credentials: no key in the configuration.
// Connectors signing as one account share one client (pools.go).
func buildGCSIAM(ctx context.Context, cn config.Connector, pools *connectorPools) (signer.Signer, error) {
	cr := cn.Credentials
	m, err := pools.gcs.IAM(ctx, gcs.IAMConfig{
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
		// The client stays open: other connectors may share it, and
		// start-up stops on this error anyway.
		return nil, err
	}
	return s, nil
}

// buildAzureUserDelegation makes an Azure signer that signs user-delegation
// SAS with a key obtained through Microsoft Entra ID. The identity comes
// from azidentity's default chain: environment (client secret or
// certificate), workload identity, managed identity, Azure CLI.
func buildAzureUserDelegation(cn config.Connector, pools *connectorPools) (signer.Signer, error) {
	cred, err := pools.entraID()
	if err != nil {
		return nil, err
	}
	return azblob.New(azblob.Config{
		Container:             cn.Container,
		Endpoint:              cn.Endpoint,
		AccountName:           cn.Credentials.AccountName,
		TokenCredential:       cred,
		DelegationKeyLifetime: cn.Credentials.DelegationKeyLifetime.Duration,
	})
}

// assumeRole wraps base, the default chain or the configured keys, in a
// session of the connector's role. Unless session_policy is "none", the
// session carries an inline policy that allows only the object actions
// signgate signs, on this bucket, under its teams' prefixes.
func assumeRole(cn config.Connector, base aws.CredentialsProvider, prefixes func() ([]string, error)) (aws.CredentialsProvider, error) {
	cr := cn.Credentials
	rc := s3.RoleConfig{
		RoleARN: cr.RoleARN, ExternalID: cr.ExternalID, SessionName: cr.SessionName,
		Duration: cr.Duration.Duration, Region: cn.Region, Endpoint: cr.STSEndpoint,
	}
	if cr.SessionPolicy != "none" {
		ps, err := prefixes()
		if err != nil {
			return nil, fmt.Errorf("session policy: %w", err)
		}
		if rc.Policy, err = s3.SessionPolicy(s3.Partition(cr.RoleARN), cn.Bucket, ps); err != nil {
			return nil, err
		}
	}
	return s3.AssumeRole(base, rc)
}

// connectorPrefixes lists the prefixes of the teams whose connector is
// name in the policy data that serve starts with: the embedded policy or a
// policy directory. A team without a prefix contributes "", which opens
// the whole bucket. With a bundle service the data is not known before the
// first download, and nil (the whole bucket) is returned.
func connectorPrefixes(cfg *config.Config, name string) ([]string, error) {
	if cfg.Policy.Source == "service" {
		return nil, nil
	}
	b, err := loadBundle(cfg) // netpolicy.go
	if err != nil {
		return nil, err
	}
	sg, _ := b.Data["signgate"].(map[string]any)
	teams, _ := sg["teams"].(map[string]any)
	var out []string
	for _, raw := range teams {
		t, _ := raw.(map[string]any)
		if c, _ := t["connector"].(string); c != name {
			continue
		}
		p, _ := t["prefix"].(string)
		out = append(out, p)
	}
	return out, nil
}
