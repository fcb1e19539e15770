// Package config maps signgate's YAML configuration onto typed structs,
// fills defaults and validates it at start-up, so that a bad file fails
// fast with the path of the offending field. Secrets are never part of the
// YAML: it names environment variables or files that hold them.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Config is the whole configuration file.
type Config struct {
	Listen     string               `json:"listen"`
	Server     Server               `json:"server"`
	Policy     Policy               `json:"policy"`
	Auth       Auth                 `json:"auth"`
	Connectors map[string]Connector `json:"connectors"`
	Audit      Audit                `json:"audit"`
	Metrics    Metrics              `json:"metrics"`
	Network    Network              `json:"network"`
	Log        Log                  `json:"log"`
}

// Network names the bucket-side network controls that `signgate netpolicy`
// writes beside each team's CIDRs from the policy data.
type Network struct {
	// GCPAccessPolicy is the VPC Service Controls access policy number.
	GCPAccessPolicy string                 `json:"gcp_access_policy"`
	Teams           map[string]TeamNetwork `json:"teams"`
}

// TeamNetwork lists a team's private network paths to its bucket.
type TeamNetwork struct {
	VPCEndpoints []string `json:"vpc_endpoints"` // S3: aws:SourceVpce values
	AzureSubnets []string `json:"azure_subnets"` // Azure: virtual network subnet resource ids
	// GCPVPCNetworks are the VPC networks (//compute.googleapis.com/projects/P/global/networks/N)
	// whose private ranges a GCS access level admits (vpcNetworkSources).
	GCPVPCNetworks []string `json:"gcp_vpc_networks"`
}

// Server holds HTTP settings.
type Server struct {
	// TrustedProxies are CIDRs whose X-Forwarded-For / X-Real-IP headers
	// are believed. Empty: the client IP is always the socket peer.
	TrustedProxies []string `json:"trusted_proxies"`
	// ClientIPHeader is the header a trusted proxy sets: x-forwarded-for
	// (default) or x-real-ip.
	ClientIPHeader  string   `json:"client_ip_header"`
	ShutdownTimeout Duration `json:"shutdown_timeout"`
	BodyLimitBytes  int64    `json:"body_limit_bytes"`
	// GCPercent and MemoryLimitMiB tune Go's garbage collector, unless the
	// GOGC or GOMEMLIMIT environment variables are set (docs/performance.md).
	GCPercent      int `json:"gc_percent"`
	MemoryLimitMiB int `json:"memory_limit_mib"`
	// TLS, when set, serves the API over HTTPS (tls.go).
	TLS TLS `json:"tls"`
	// RequireSigners keeps /readyz at 503 while any connector cannot sign
	// (credentials not obtained, signBlob refused, no delegation key).
	RequireSigners bool `json:"require_signers"`
	// StrictSecretFiles refuses to start when a secret file is readable by
	// its group or others; by default that is a warning (secretfiles.go).
	StrictSecretFiles bool `json:"strict_secret_files"`
	// CORS lets browser pages of other origins call the API (cors.go).
	CORS CORS `json:"cors"`
	// Transport: timeouts, header size, connection caps and the rate limit
	// per principal (limits.go).
	Transport
}

// Auth lists the credentials signgate accepts.
type Auth struct {
	APIKeys []APIKey `json:"api_keys"`
	OIDC    *OIDC    `json:"oidc"`
}

// APIKey is one accepted API key, stored only as its SHA-256.
type APIKey struct {
	SHA256  string   `json:"sha256"`
	Subject string   `json:"subject"`
	Teams   []string `json:"teams"`
}

// Connector is one bucket or container with the credentials to sign for it.
type Connector struct {
	Provider    string      `json:"provider"` // s3, gcs or azure
	Bucket      string      `json:"bucket"`
	Container   string      `json:"container"`
	Region      string      `json:"region"`
	Endpoint    string      `json:"endpoint"`
	Credentials Credentials `json:"credentials"`
}

// Credentials name where secrets live; each *_env is an environment
// variable and each *_file a path. The values are never in the YAML.
type Credentials struct {
	AccessKeyIDEnv      string `json:"access_key_id_env"`
	AccessKeyIDFile     string `json:"access_key_id_file"`
	SecretAccessKeyEnv  string `json:"secret_access_key_env"`
	SecretAccessKeyFile string `json:"secret_access_key_file"`
	// MinLifetime is how long temporary AWS credentials must still live
	// to sign with (default 60s); shorter-lived ones are refreshed first.
	MinLifetime Duration `json:"min_lifetime"`

	ServiceAccountFile string `json:"service_account_file"`

	AccountName    string `json:"account_name"`
	AccountKeyEnv  string `json:"account_key_env"`
	AccountKeyFile string `json:"account_key_file"`

	// Keyless signing (keyless.go, docs/configuration.md): short-lived
	// credentials that each cloud issues to the workload, no storage key.
	// GCS: sign through the IAM Credentials API's signBlob with
	// Application Default Credentials, as their own account or, with
	// ImpersonateServiceAccount, as that account.
	IAMSignBlob               bool   `json:"iam_sign_blob"`
	ImpersonateServiceAccount string `json:"impersonate_service_account"`
	// IAMEndpoint replaces https://iamcredentials.googleapis.com (Private
	// Service Connect, or a test endpoint).
	IAMEndpoint string `json:"iam_endpoint"`
	// SignTimeout bounds one signBlob call (default 5s); SignConcurrency
	// bounds the calls in flight per connector (default 16).
	SignTimeout     Duration `json:"sign_timeout"`
	SignConcurrency int      `json:"sign_concurrency"`

	// Azure: sign user-delegation SAS with a key obtained through
	// Microsoft Entra ID (azidentity's default chain), never the account key.
	UserDelegation bool `json:"user_delegation"`
	// DelegationKeyLifetime is how long each delegation key is asked for
	// (default and maximum 7 days); it is renewed at half its life.
	DelegationKeyLifetime Duration `json:"delegation_key_lifetime"`

	// AWS: assume RoleARN through STS on top of the default chain.
	RoleARN     string   `json:"role_arn"`
	ExternalID  string   `json:"external_id"`
	SessionName string   `json:"session_name"`
	Duration    Duration `json:"duration"` // default 1h; 15m to 12h
	// SessionPolicy is "bucket" (the default: an inline policy that allows
	// only the signed object actions on this connector's bucket and its
	// teams' prefixes) or "none".
	SessionPolicy string `json:"session_policy"`
	// STSEndpoint replaces the regional STS endpoint (VPC endpoint, tests).
	STSEndpoint string `json:"sts_endpoint"`
}

// Duration is a time.Duration written as "30s" in YAML.
type Duration struct{ time.Duration }

// UnmarshalJSON accepts a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q", s)
	}
	d.Duration = v
	return nil
}

// Load reads, defaults and validates the file at path. Unknown fields are
// errors, so that a typo never silently weakens a setting, and ${NAME}
// references are replaced by environment variables (load.go).
func Load(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parse(path, raw)
}

// Parse is Load for bytes.
func Parse(raw []byte) (*Config, error) { return parse("", raw) }

func parse(file string, raw []byte) (*Config, error) {
	var c Config
	if err := decodeYAML(file, raw, &c); err != nil {
		return nil, err
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// SetDefaults fills every unset field with its secure default.
func (c *Config) SetDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.Server.ShutdownTimeout.Duration == 0 {
		c.Server.ShutdownTimeout.Duration = 15 * time.Second
	}
	if c.Server.ClientIPHeader == "" {
		c.Server.ClientIPHeader = "x-forwarded-for"
	}
	if c.Server.GCPercent == 0 {
		c.Server.GCPercent = 200
	}
	if c.Server.MemoryLimitMiB == 0 {
		c.Server.MemoryLimitMiB = 256
	}
	if c.Server.BodyLimitBytes == 0 {
		c.Server.BodyLimitBytes = 64 << 10
	}
	c.Server.Transport.setDefaults(len(c.Server.TrustedProxies) > 0)
	c.Policy.setDefaults()
	c.Audit.setDefaults()
	c.Metrics.setDefaults()
	if c.Auth.OIDC != nil {
		c.Auth.OIDC.setDefaults()
	}
}

var (
	connectorName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)
	sha256Hex     = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Validate reports every problem, each prefixed with its field path.
func (c *Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: %s", path, fmt.Sprintf(format, args...)))
	}
	if _, err := netip.ParseAddrPort(c.Listen); err != nil {
		bad("listen", "want host:port with an IP address, got %q", c.Listen)
	}
	for i, p := range c.Server.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			bad(fmt.Sprintf("server.trusted_proxies[%d]", i), "not a CIDR: %q", p)
		}
	}
	if h := c.Server.ClientIPHeader; h != "x-forwarded-for" && h != "x-real-ip" {
		bad("server.client_ip_header", "want x-forwarded-for or x-real-ip, got %q", h)
	}
	if c.Server.GCPercent < 25 {
		bad("server.gc_percent", "must be at least 25")
	}
	if c.Server.MemoryLimitMiB < 32 {
		bad("server.memory_limit_mib", "must be at least 32")
	}
	if c.Server.BodyLimitBytes < 1024 {
		bad("server.body_limit_bytes", "must be at least 1024")
	}
	c.Server.TLS.validate("server.tls", bad)
	c.Server.CORS.validate("server.cors", bad)
	c.Server.Transport.validate("server", bad)
	c.Policy.validate("policy", bad)
	if len(c.Auth.APIKeys) == 0 && c.Auth.OIDC == nil {
		bad("auth", "at least one of api_keys or oidc is required; signgate has no unauthenticated mode")
	}
	if c.Auth.OIDC != nil {
		c.Auth.OIDC.validate("auth.oidc", bad)
	}
	seen := map[string]bool{}
	for i, k := range c.Auth.APIKeys {
		p := fmt.Sprintf("auth.api_keys[%d]", i)
		if !sha256Hex.MatchString(k.SHA256) {
			bad(p+".sha256", "want 64 lower-case hex characters (the SHA-256 of the key, never the key)")
		} else if seen[k.SHA256] {
			bad(p+".sha256", "duplicate key")
		}
		seen[k.SHA256] = true
		if k.Subject == "" {
			bad(p+".subject", "required")
		}
	}
	if len(c.Connectors) == 0 {
		bad("connectors", "at least one connector is required")
	}
	for _, name := range c.ConnectorNames() {
		c.Connectors[name].validate("connectors."+name, bad)
		if !connectorName.MatchString(name) {
			bad("connectors."+name, "name must match %s", connectorName)
		}
	}
	c.Audit.validate("audit", bad)
	c.Metrics.validate("metrics", c.Listen, bad)
	c.Log.validate("log", bad)
	return errors.Join(errs...)
}

func (cn Connector) validate(p string, bad func(path, format string, args ...any)) {
	cr := cn.Credentials
	switch cn.Provider {
	case "s3":
		if cn.Bucket == "" {
			bad(p+".bucket", "required for s3")
		}
		if cn.Region == "" {
			bad(p+".region", "required for s3")
		}
		hasID := cr.AccessKeyIDEnv != "" || cr.AccessKeyIDFile != ""
		hasSecret := cr.SecretAccessKeyEnv != "" || cr.SecretAccessKeyFile != ""
		if hasID != hasSecret {
			bad(p+".credentials", "set both an access key id and a secret access key source, or neither for the default AWS chain")
		}
		if cr.MinLifetime.Duration < 0 || cr.MinLifetime.Duration > time.Hour {
			bad(p+".credentials.min_lifetime", "want a duration from 0s (the default, 60s) to 1h, got %s", cr.MinLifetime.Duration)
		}
	case "gcs":
		if cn.Bucket == "" {
			bad(p+".bucket", "required for gcs")
		}
		cr.validateGCS(p+".credentials", bad)
	case "azure":
		if cn.Container == "" {
			bad(p+".container", "required for azure")
		}
		if cr.AccountName == "" {
			bad(p+".credentials.account_name", "required for azure")
		}
		switch {
		case cr.UserDelegation && (cr.AccountKeyEnv != "" || cr.AccountKeyFile != ""):
			bad(p+".credentials", "user_delegation signs without the account key: remove account_key_env and account_key_file")
		case !cr.UserDelegation && (cr.AccountKeyEnv == "") == (cr.AccountKeyFile == ""):
			bad(p+".credentials", "set exactly one of account_key_env and account_key_file, or user_delegation: true")
		case cr.UserDelegation && strings.HasPrefix(cn.Endpoint, "http://"):
			bad(p+".endpoint", "user_delegation sends an Entra ID token: the endpoint must be https")
		}
	default:
		bad(p+".provider", "want s3, gcs or azure, got %q", cn.Provider)
	}
	cr.validateKeylessFor(cn.Provider, p+".credentials", bad)
	if cn.Provider != "s3" && cr.MinLifetime.Duration != 0 {
		bad(p+".credentials.min_lifetime", "only for s3: service-account and shared keys do not expire")
	}
	if cn.Endpoint != "" && !strings.HasPrefix(cn.Endpoint, "https://") && !strings.HasPrefix(cn.Endpoint, "http://") {
		bad(p+".endpoint", "want an http(s) URL, got %q", cn.Endpoint)
	}
}

// ConnectorNames returns the connector names in a stable order.
func (c *Config) ConnectorNames() []string {
	names := make([]string, 0, len(c.Connectors))
	for n := range c.Connectors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Secret reads a secret from the environment variable env or the file
// path, whichever is set. The error names the source, never the value.
func Secret(env, path string) (string, error) {
	switch {
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", env)
		}
		return v, nil
	case path != "":
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("read secret file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return "", errors.New("no secret source configured")
}
