package s3

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/signgate/signgate/signer"
)

// RoleConfig is a role to assume through STS for one connector.
type RoleConfig struct {
	RoleARN     string
	ExternalID  string        // empty: none
	SessionName string        // empty: "signgate"
	Duration    time.Duration // zero: 1h, STS's own default
	// Policy is an inline session policy (see SessionPolicy); the
	// session's permissions are the role's intersected with it. Empty
	// means none: the session has all of the role's permissions.
	Policy string
	// Region is the STS region; Endpoint, when set, replaces the regional
	// STS endpoint (a VPC endpoint, or a test server).
	Region   string
	Endpoint string
	// HTTPClient carries the STS calls; nil for the SDK's default.
	HTTPClient aws.HTTPClient
}

// AssumeRole returns credentials of a session of cfg.RoleARN, obtained
// with base (the default chain, IRSA and web identity included) and
// renewed by the Signer before they get too short to sign with. A failed
// or refused AssumeRole is wrapped in signer.ErrUnavailable.
func AssumeRole(base aws.CredentialsProvider, cfg RoleConfig) (aws.CredentialsProvider, error) {
	if cfg.RoleARN == "" || cfg.Region == "" || base == nil {
		return nil, errors.New("s3: assume role: role ARN, region and base credentials are required")
	}
	opts := sts.Options{Region: cfg.Region, Credentials: base, HTTPClient: cfg.HTTPClient}
	if cfg.Endpoint != "" {
		opts.BaseEndpoint = aws.String(cfg.Endpoint)
	}
	p := stscreds.NewAssumeRoleProvider(sts.New(opts), cfg.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = cfg.SessionName
		if o.RoleSessionName == "" {
			o.RoleSessionName = "signgate"
		}
		if cfg.Duration > 0 {
			o.Duration = cfg.Duration
		}
		if cfg.ExternalID != "" {
			o.ExternalID = aws.String(cfg.ExternalID)
		}
		if cfg.Policy != "" {
			o.Policy = aws.String(cfg.Policy)
		}
	})
	return aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
		c, err := p.Retrieve(ctx)
		if err != nil {
			return aws.Credentials{}, fmt.Errorf("%w: sts assume role %s: %w", signer.ErrUnavailable, cfg.RoleARN, err)
		}
		return c, nil
	})), nil
}

// objectActions are the only actions a session policy allows: those of the
// URLs signgate signs (GET, PUT, DELETE, and multipart uploads, whose
// create, part and complete calls S3 authorises as s3:PutObject).
var objectActions = []string{"s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"}

// maxSessionPolicy is the longest inline session policy STS accepts.
const maxSessionPolicy = 2048

// SessionPolicy is the inline session policy that scopes a role's session
// to bucket: ObjectActions on the objects under prefixes, or on the whole
// bucket when prefixes is empty or one of them is "" (a team without a
// prefix). partition is the ARN partition ("aws", "aws-cn",
// "aws-us-gov"). The document is compact JSON in a stable order.
func SessionPolicy(partition, bucket string, prefixes []string) (string, error) {
	if partition == "" || bucket == "" || strings.Trim(bucket, bucketChars) != "" {
		return "", fmt.Errorf("s3: session policy: bad partition %q or bucket %q", partition, bucket)
	}
	resources := []string{"arn:" + partition + ":s3:::" + bucket + "/*"}
	if len(prefixes) > 0 && !slices.Contains(prefixes, "") {
		resources = resources[:0]
		for _, p := range prefixes {
			resources = append(resources, "arn:"+partition+":s3:::"+bucket+"/"+iamLiteral(p)+"*")
		}
		slices.Sort(resources)
		resources = slices.Compact(resources)
	}
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Sid":      "SigngateObjectURLs",
			"Effect":   "Allow",
			"Action":   slices.Clone(objectActions),
			"Resource": resources,
		}},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return "", err
	}
	if len(b) > maxSessionPolicy {
		return "", fmt.Errorf("s3: session policy for %s: %d characters with %d prefixes, over STS's %d: use fewer prefixes or session_policy: none with a narrower role", bucket, len(b), len(prefixes), maxSessionPolicy)
	}
	return string(b), nil
}

// iamLiteral escapes the characters an IAM resource reads as wildcards or
// policy variables, so that a prefix matches only itself.
func iamLiteral(s string) string {
	return strings.NewReplacer("$", "${$}", "*", "${*}", "?", "${?}").Replace(s)
}

// Partition is the ARN partition of an ARN ("aws" when it has none).
func Partition(arn string) string {
	parts := strings.SplitN(arn, ":", 3)
	if len(parts) < 3 || parts[0] != "arn" || parts[1] == "" {
		return "aws"
	}
	return parts[1]
}
