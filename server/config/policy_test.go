package config_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/signgate/signgate/server/config"
)

// base is a valid configuration without a policy section.
const base = `
auth:
  api_keys:
    - sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
      subject: alice
connectors:
  c1:
    provider: s3
    bucket: b
    region: us-east-1
`

const pubKey = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE
-----END PUBLIC KEY-----`

const service = `
policy:
  source: service
  opa_config:
    services:
      hub:
        url: https://bundles.example.com
        credentials:
          bearer:
            token_path: /run/secrets/bundle-token
    bundles:
      signgate:
        service: hub
        resource: bundles/signgate.tar.gz
`

func TestPolicyConfig(t *testing.T) {
	tests := []struct {
		name      string
		givenYAML string
		wantErr   string // empty: valid
	}{
		{name: "defaults to the embedded policy", givenYAML: ""},
		{name: "accepts a watched directory with verification", givenYAML: `
policy:
  source: directory
  directory: /etc/signgate/policy
  watch_debounce: 1s
  require_bundle: true
  verification:
    keys:
      ci: {algorithm: ES256, key: "` + strings.ReplaceAll(pubKey, "\n", `\n`) + `"}
    key_id: ci
    scope: prod
  explain_subjects: [alice]
`},
		{name: "accepts a bundle service", givenYAML: service},
		{name: "refuses an unknown source", givenYAML: "policy: {source: git}", wantErr: "policy.source: want embedded, directory or service"},
		{name: "refuses a directory source without a directory", givenYAML: "policy: {source: directory}", wantErr: "policy.directory: required"},
		{name: "refuses a service source without opa_config", givenYAML: "policy: {source: service}", wantErr: "policy.opa_config: required"},
		{name: "refuses opa_config sections it would ignore", givenYAML: service + "    decision_logs: {console: true}\n", wantErr: "policy.opa_config.decision_logs: not used"},
		{name: "refuses an inline bearer token", givenYAML: strings.Replace(service, "token_path: /run/secrets/bundle-token", "token: s3cr3t", 1), wantErr: "policy.opa_config.services.hub.credentials.bearer.token: a secret is never written"},
		{name: "accepts a bearer token from the environment", givenYAML: strings.Replace(service, "token_path: /run/secrets/bundle-token", "token: ${BUNDLE_TOKEN}", 1)},
		{name: "refuses require_bundle with the embedded policy", givenYAML: "policy: {require_bundle: true}", wantErr: "policy.require_bundle"},
		{name: "refuses verification of the embedded policy", givenYAML: "policy: {verification: {keys: {k: {key_file: /k.pem}}}}", wantErr: "policy.verification: needs a directory"},
		{name: "refuses a directory with another source", givenYAML: "policy: {source: embedded, directory: /x}", wantErr: "policy.directory: only for"},
		{name: "refuses verification without keys", givenYAML: "policy: {source: directory, directory: /x, verification: {keys: {}}}", wantErr: "policy.verification.keys: at least one"},
		{name: "refuses a key with two sources", givenYAML: "policy: {source: directory, directory: /x, verification: {keys: {k: {key_file: /k.pem, key_env: K}}}}", wantErr: "policy.verification.keys.k: set exactly one"},
		{name: "refuses an inline HMAC secret", givenYAML: "policy: {source: directory, directory: /x, verification: {keys: {k: {algorithm: HS256, key: hunter2}}}}", wantErr: "an HMAC key is a secret"},
		{name: "refuses an unknown algorithm", givenYAML: "policy: {source: directory, directory: /x, verification: {keys: {k: {algorithm: none, key_file: /k}}}}", wantErr: "policy.verification.keys.k.algorithm"},
		{name: "refuses a key_id that names no key", givenYAML: "policy: {source: directory, directory: /x, verification: {key_id: other, keys: {k: {key_file: /k}}}}", wantErr: "policy.verification.key_id"},
		{name: "refuses OPA keys beside policy.verification", givenYAML: service + "    keys: {ci: {key: x}}\n  verification: {keys: {k: {key_file: /k}}}\n", wantErr: "policy.opa_config.keys: set verification keys in policy.verification or here"},
		{name: "refuses an empty explain subject", givenYAML: "policy: {explain_subjects: ['']}", wantErr: "policy.explain_subjects[0]"},
		{name: "refuses an empty admin subject", givenYAML: "policy: {admin_subjects: [ops, '']}", wantErr: "policy.admin_subjects[1]"},
		{name: "refuses an unknown policy field", givenYAML: "policy: {sauce: embedded}", wantErr: "sauce"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse([]byte(base + tc.givenYAML))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if c.Policy.WatchDebounce.Duration <= 0 {
					t.Fatal("no default debounce")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestPolicyDefaults(t *testing.T) {
	c, err := config.Parse([]byte(base + "policy: {source: directory, directory: /x, verification: {keys: {k: {key_file: /k}}}}"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Policy.WatchDebounce.Duration != 250*time.Millisecond || c.Policy.Verification.Keys["k"].Algorithm != "RS256" {
		t.Fatalf("defaults: %+v", c.Policy)
	}
}

func TestExpandOPAConfig(t *testing.T) {
	t.Setenv("BUNDLE_TOKEN", "tok-123")
	c, err := config.Parse([]byte(base + strings.Replace(service, "token_path: /run/secrets/bundle-token", "token: ${BUNDLE_TOKEN}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := c.Policy.ExpandOPAConfig()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Credentials struct {
				Bearer struct{ Token string } `json:"bearer"`
			} `json:"credentials"`
		} `json:"services"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Services["hub"].Credentials.Bearer.Token; got != "tok-123" {
		t.Fatalf("token = %q", got)
	}
	c.Policy.OPAConfig = json.RawMessage(`{"services": {"hub": {"url": "${NOT_SET_ANYWHERE}"}}}`)
	if _, err := c.Policy.ExpandOPAConfig(); err == nil || !strings.Contains(err.Error(), "NOT_SET_ANYWHERE") {
		t.Fatalf("err = %v", err)
	}
}

func TestAdminsAreAdminSubjectsAndTheFormerExplainSubjects(t *testing.T) {
	c, err := config.Parse([]byte(base + "policy: {admin_subjects: [ops], explain_subjects: [alice]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Policy.Admins(), ","); got != "ops,alice" {
		t.Fatalf("admins %q, want ops,alice", got)
	}
}
