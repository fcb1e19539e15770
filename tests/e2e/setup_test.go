package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/signgate/signgate/tests/storage"
)

// The S3 root credentials versitygw accepts and signgate signs with.
const (
	s3AccessKey = "e2eaccesskey"
	s3SecretKey = "e2e-secret-access-key-not-for-production"
)

// team is one entry of the policy's data and the connector behind it.
type team struct {
	name       string
	connector  string
	provider   string // s3, gcs or azure
	bucket     string // bucket or Azure container
	operations []string
}

var (
	allOps   = []string{"read", "write", "delete"}
	readOnly = []string{"read"}
)

// Per provider: a team alice belongs to with every operation, and a team
// bob belongs to that may only read, on a second bucket of the same server.
var teams = []team{
	{"vision", "vision-s3", "s3", "acme-vision", allOps},
	{"audio", "audio-s3", "s3", "acme-audio", readOnly},
	{"nlp", "nlp-gcs", "gcs", "acme-nlp", allOps},
	{"search", "search-gcs", "gcs", "acme-search", readOnly},
	{"web", "web-azure", "azure", "acme-web", allOps},
	{"mobile", "mobile-azure", "azure", "acme-mobile", readOnly},
	// gallery's writes carry upload constraints (teamExtras, forms_test.go).
	{"gallery", "gallery-s3", "s3", "acme-gallery", allOps},
}

// members are the API key subjects and their teams.
var members = map[string][]string{
	"alice": {"vision", "nlp", "web", "gallery"},
	"bob":   {"audio", "search", "mobile"},
}

// maxTTL is every team's cap, in seconds, per operation.
var maxTTL = map[string]int{"read": 3600, "write": 86400, "delete": 3600}

func createBuckets(ctx context.Context, s *storage.Servers) error {
	for _, tm := range teams {
		var err error
		switch {
		case tm.provider == "s3" && s.S3 != nil:
			err = s.S3.CreateBucket(ctx, tm.bucket)
		case tm.provider == "gcs" && s.GCS != nil:
			err = s.GCS.CreateBucket(ctx, tm.bucket)
		case tm.provider == "azure" && s.Azure != nil:
			err = s.Azure.CreateContainer(ctx, tm.bucket)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// writePolicy copies the project's Rego (not its tests) into dir and adds
// this suite's data.json.
func writePolicy(root, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(root, "policies", "*.rego"))
	if err != nil {
		return err
	}
	copied := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.rego") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			return err
		}
		copied++
	}
	if copied == 0 {
		return fmt.Errorf("no .rego files in %s", filepath.Join(root, "policies"))
	}
	data := map[string]any{}
	for _, tm := range teams {
		caps := map[string]int{}
		for _, op := range tm.operations {
			caps[op] = maxTTL[op]
		}
		entry := map[string]any{
			"connector":  tm.connector,
			"prefix":     tm.name + "/",
			"operations": tm.operations,
			"max_ttl":    caps,
		}
		for k, v := range teamExtras[tm.name] {
			entry[k] = v
		}
		data[tm.name] = entry
	}
	b, err := json.MarshalIndent(map[string]any{"signgate": map[string]any{"teams": data}}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "data.json"), b, 0o644)
}

// writeConfig writes signgate's configuration for listen, accepting keys
// (subject -> raw API key), with the given audit section. JSON is YAML, and
// needs no escaping rules.
func writeConfig(path, listen, policyDir, saFile string, s *storage.Servers, keys map[string]string, audit map[string]any) error {
	var apiKeys []map[string]any
	for _, subject := range []string{"alice", "bob"} {
		sum := sha256.Sum256([]byte(keys[subject]))
		apiKeys = append(apiKeys, map[string]any{
			"sha256": hex.EncodeToString(sum[:]), "subject": subject, "teams": members[subject],
		})
	}
	// A server that is not installed still gets a connector: signing needs
	// no server, and its cases are skipped.
	const nowhere = "http://127.0.0.1:9"
	s3Endpoint, gcsEndpoint, azEndpoint := nowhere, nowhere, nowhere+"/"+storage.AzuriteAccount
	if s.S3 != nil {
		s3Endpoint = s.S3.Endpoint
	}
	if s.GCS != nil {
		gcsEndpoint = s.GCS.Endpoint
	}
	if s.Azure != nil {
		azEndpoint = s.Azure.Endpoint
	}
	connectors := map[string]any{}
	for _, tm := range teams {
		switch tm.provider {
		case "s3":
			connectors[tm.connector] = map[string]any{
				"provider": "s3", "bucket": tm.bucket, "region": "us-east-1", "endpoint": s3Endpoint,
				"credentials": map[string]any{"access_key_id_env": "E2E_S3_KEY", "secret_access_key_env": "E2E_S3_SECRET"},
			}
		case "gcs":
			connectors[tm.connector] = map[string]any{
				"provider": "gcs", "bucket": tm.bucket, "endpoint": gcsEndpoint,
				"credentials": map[string]any{"service_account_file": saFile},
			}
		case "azure":
			connectors[tm.connector] = map[string]any{
				"provider": "azure", "container": tm.bucket, "endpoint": azEndpoint,
				"credentials": map[string]any{"account_name": storage.AzuriteAccount, "account_key_env": "E2E_AZ_KEY"},
			}
		}
	}
	cfg := map[string]any{
		"listen": listen,
		// Every request of the suite comes from one address and two keys,
		// hundreds at a time: the caps on connections per IP and requests
		// per principal in flight are above what it sends.
		"server":     map[string]any{"max_connections_per_ip": 1024, "rate_limit": map[string]any{"max_concurrent": 512}},
		"policy":     map[string]any{"source": "directory", "directory": policyDir},
		"auth":       map[string]any{"api_keys": apiKeys},
		"connectors": connectors,
		"audit":      audit,
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// startSigngate runs `signgate serve --config FILE` on a free port and
// waits until GET /readyz answers 200.
func startSigngate(ctx context.Context, root, dir, bin string, sa *storage.ServiceAccount) (*storage.Process, error) {
	policyDir := filepath.Join(dir, "policy")
	if err := writePolicy(root, policyDir); err != nil {
		return nil, err
	}
	saFile := filepath.Join(dir, "service-account.json")
	if err := os.WriteFile(saFile, sa.JSON, 0o600); err != nil {
		return nil, err
	}
	cfgFile := filepath.Join(dir, "signgate.yaml")
	env := []string{
		"E2E_S3_KEY=" + s3AccessKey,
		"E2E_S3_SECRET=" + s3SecretKey,
		"E2E_AZ_KEY=" + storage.AzuriteKey,
	}
	suite.keys = map[string]string{"alice": randomHex(24), "bob": randomHex(24)}
	suite.policyDir, suite.saFile, suite.env = policyDir, saFile, env
	var cfgErr error
	argv := func(port int) []string {
		// On a write error signgate exits at once for want of its config,
		// and StartServer reports that.
		cfgErr = writeConfig(cfgFile, fmt.Sprintf("127.0.0.1:%d", port), policyDir, saFile, suite.servers, suite.keys,
			map[string]any{"sink": "file", "path": filepath.Join(dir, "audit.jsonl")})
		return []string{bin, "serve", "--config", cfgFile}
	}
	ready := func(ctx context.Context, port int) error {
		if cfgErr != nil {
			return cfgErr
		}
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		if err := getOK(ctx, base+"/readyz"); err != nil {
			return err
		}
		suite.signgate = base
		return nil
	}
	p, _, err := storage.StartServer(ctx, "signgate", dir, env, argv, ready)
	return p, err
}
