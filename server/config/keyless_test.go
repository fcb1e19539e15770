package config_test

import (
	"strings"
	"testing"

	"github.com/signgate/signgate/server/config"
)

// withConnector is a valid configuration whose one connector is given.
func withConnector(c string) string {
	return `
auth:
  api_keys:
    - sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
      subject: alice
connectors:
  c1: ` + c + "\n"
}

func TestKeylessCredentials(t *testing.T) {
	tests := []struct {
		name      string
		given     string
		wantError string // "" for a valid configuration
	}{
		{"accepts GCS through signBlob as the ADC account", `{provider: gcs, bucket: b, credentials: {iam_sign_blob: true}}`, ""},
		{"accepts GCS impersonating an account", `{provider: gcs, bucket: b, credentials: {impersonate_service_account: s@p.iam.gserviceaccount.com, sign_timeout: 3s, sign_concurrency: 32}}`, ""},
		{"refuses GCS with a key file and signBlob", `{provider: gcs, bucket: b, credentials: {service_account_file: /k.json, iam_sign_blob: true}}`, "connectors.c1.credentials: service_account_file signs with a key"},
		{"refuses GCS without any credentials", `{provider: gcs, bucket: b}`, "connectors.c1.credentials: set service_account_file, or iam_sign_blob"},
		{"refuses an impersonated account that is not an email", `{provider: gcs, bucket: b, credentials: {impersonate_service_account: "a b"}}`, "impersonate_service_account: want a service account email"},
		{"refuses a signBlob pool over 256", `{provider: gcs, bucket: b, credentials: {iam_sign_blob: true, sign_concurrency: 1000}}`, "sign_concurrency"},
		{"refuses signBlob settings on S3", `{provider: s3, bucket: b, region: r, credentials: {iam_sign_blob: true}}`, "connectors.c1.credentials.iam_sign_blob: only for gcs"},
		{"accepts Azure user delegation without an account key", `{provider: azure, container: c, credentials: {account_name: a, user_delegation: true, delegation_key_lifetime: 24h}}`, ""},
		{"refuses Azure user delegation with an account key", `{provider: azure, container: c, credentials: {account_name: a, user_delegation: true, account_key_env: K}}`, "user_delegation signs without the account key"},
		{"refuses Azure user delegation on an http endpoint", `{provider: azure, container: c, endpoint: "http://127.0.0.1:10000/a", credentials: {account_name: a, user_delegation: true}}`, "the endpoint must be https"},
		{"refuses a delegation key over 7 days", `{provider: azure, container: c, credentials: {account_name: a, user_delegation: true, delegation_key_lifetime: 200h}}`, "delegation_key_lifetime: want 1h to 168h"},
		{"accepts an AWS role with every setting", `{provider: s3, bucket: b, region: r, credentials: {role_arn: "arn:aws:iam::123456789012:role/signgate-vision", external_id: ext-1, session_name: signgate, duration: 1h}}`, ""},
		{"refuses a malformed role ARN", `{provider: s3, bucket: b, region: r, credentials: {role_arn: "signgate"}}`, "connectors.c1.credentials.role_arn: want arn:aws:iam"},
		{"accepts a role whose path and name take 512 characters", `{provider: s3, bucket: b, region: r, credentials: {role_arn: "arn:aws:iam::123456789012:role/team/` + strings.Repeat("r", 507) + `"}}`, ""},
		{"refuses a role whose path and name take 513 characters", `{provider: s3, bucket: b, region: r, credentials: {role_arn: "arn:aws:iam::123456789012:role/team/` + strings.Repeat("r", 508) + `"}}`, "connectors.c1.credentials.role_arn: want arn:aws:iam"},
		{"refuses a role without a name", `{provider: s3, bucket: b, region: r, credentials: {role_arn: "arn:aws:iam::123456789012:role/"}}`, "connectors.c1.credentials.role_arn: want arn:aws:iam"},
		{"refuses a session under 15 minutes", `{provider: s3, bucket: b, region: r, credentials: {role_arn: "arn:aws:iam::123456789012:role/x", duration: 5m}}`, "duration: want 15m to 12h"},
		{"refuses an unknown session policy", `{provider: s3, bucket: b, region: r, credentials: {role_arn: "arn:aws:iam::123456789012:role/x", session_policy: all}}`, "session_policy"},
		{"refuses a role on GCS", `{provider: gcs, bucket: b, credentials: {iam_sign_blob: true, role_arn: "arn:aws:iam::123456789012:role/x"}}`, "only for s3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte(withConnector(tt.given)))
			switch {
			case tt.wantError == "" && err != nil:
				t.Fatalf("Parse: %v", err)
			case tt.wantError != "" && (err == nil || !strings.Contains(err.Error(), tt.wantError)):
				t.Fatalf("Parse: %v, want an error with %q", err, tt.wantError)
			}
		})
	}
}
