package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The generated deployment: 100 teams, each with 10 connectors (buckets per
// environment), one of which its policy data names. Most are S3; every
// 25th team from the 5th is Azure, and from the 10th GCS.
const (
	numTeams          = 100
	connectorsPerTeam = 10

	// The teams the load is about. benchS3Team and benchAzureTeam have CIDRs
	// (127.0.0.0/8 among them) and a members list, so that their decisions
	// run every check of the policy.
	benchS3Team    = "team-001"
	benchAzureTeam = "team-005"
	benchGCSTeam   = "team-010"
	benchSubject   = "bench"
	benchUserAgent = "signgate-bench/1"

	s3KeyIDEnv  = "SIGNGATE_BENCH_S3_ACCESS_KEY_ID"
	s3SecretEnv = "SIGNGATE_BENCH_S3_SECRET_ACCESS_KEY"
	azAccount   = "benchaccount"
)

// fixture is what writeFixture generated: where the files are, and what
// the harness needs to call signgate.
type fixture struct {
	configPath string
	configBody string // the configuration without its listen line
	bundleDir  string
	env        []string // secrets signgate reads, as KEY=value
	apiKey     string   // the bench subject's bearer key
	teamsOf    []string // the bench subject's teams, as its API key vouches

	teams, connectors, apiKeys int
	providerMix                string
}

func teamName(i int) string { return fmt.Sprintf("team-%03d", i) }

func teamProvider(i int) string {
	switch i % 25 {
	case 5:
		return "azure"
	case 10:
		return "gcs"
	}
	return "s3"
}

// team is one entry of data.signgate.teams (docs/policy.md).
type team struct {
	Connector      string         `json:"connector"`
	Prefix         string         `json:"prefix"`
	Operations     []string       `json:"operations"`
	MaxTTL         map[string]int `json:"max_ttl,omitempty"`
	CIDRs          []string       `json:"cidrs,omitempty"`
	Members        []string       `json:"members,omitempty"`
	MaxUploadBytes int64          `json:"max_upload_bytes,omitempty"`
}

func makeTeams() map[string]team {
	teams := make(map[string]team, numTeams)
	for i := range numTeams {
		t := team{
			Connector:  fmt.Sprintf("%s-%d", teamName(i), i%connectorsPerTeam),
			Prefix:     teamName(i) + "/",
			Operations: []string{"read", "write", "delete"},
			MaxTTL:     map[string]int{"read": 3600, "write": 86400, "delete": 3600},
			Members:    []string{fmt.Sprintf("user-%03d-a", i), fmt.Sprintf("user-%03d-b", i), fmt.Sprintf("user-%03d-c", i)},
		}
		if i%7 == 3 {
			t.Operations, t.MaxTTL = []string{"read"}, map[string]int{"read": 900}
		}
		if i%4 == 1 {
			t.CIDRs = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8"}
		}
		if i%3 == 0 {
			t.MaxUploadBytes = 64 << 30
		}
		teams[teamName(i)] = t
	}
	return teams
}

// writeFixture writes the policy bundle (the non-test policies/*.rego of
// this checkout and the generated data.json), the secrets, and the
// configuration into dir.
func writeFixture(root, dir, auditSink string) (*fixture, error) {
	fx := &fixture{
		configPath: filepath.Join(dir, "config.yaml"),
		bundleDir:  filepath.Join(dir, "bundle"),
		teamsOf:    []string{benchS3Team, benchAzureTeam, benchGCSTeam},
		teams:      numTeams,
	}
	if err := writeBundle(root, fx.bundleDir); err != nil {
		return nil, err
	}
	secrets := filepath.Join(dir, "secrets")
	if err := os.MkdirAll(secrets, 0o700); err != nil {
		return nil, err
	}
	saFile, azKeyFile := filepath.Join(secrets, "gcs-sa.json"), filepath.Join(secrets, "azure.key")
	sa, err := serviceAccountJSON("signgate-bench@bench-project.iam.gserviceaccount.com")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(saFile, sa, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(azKeyFile, []byte(base64.StdEncoding.EncodeToString(randomBytes(64))), 0o600); err != nil {
		return nil, err
	}
	fx.env = []string{
		s3KeyIDEnv + "=AKIABENCHEXAMPLE0001",
		s3SecretEnv + "=" + base64.RawStdEncoding.EncodeToString(randomBytes(30)),
	}

	var cfg strings.Builder
	// The harness loads one server from one address with one key: no
	// per-IP or per-principal limit may shape what it measures.
	cfg.WriteString("server:\n  max_connections: 8192\n  max_connections_per_ip: -1\n  rate_limit: {store: none}\n")
	fmt.Fprintf(&cfg, "policy:\n  source: directory\n  directory: %q\n", fx.bundleDir)
	fmt.Fprintf(&cfg, "audit:\n  sink: %s # console: JSON lines on stdout, drained by the harness\n", auditSink)
	cfg.WriteString("auth:\n  api_keys:\n")
	users := map[string][]string{
		benchSubject: fx.teamsOf,
		"alice":      {teamName(0), teamName(2), teamName(4)},
		"bob":        {teamName(20), teamName(21)},
		"carol":      {teamName(42)},
		"dora":       {teamName(77), teamName(78), teamName(79)},
	}
	for _, u := range slices.Sorted(maps.Keys(users)) {
		key := base64.RawURLEncoding.EncodeToString(randomBytes(24))
		if u == benchSubject {
			fx.apiKey = key
		}
		sum := sha256.Sum256([]byte(key)) // what `signgate hash-key` prints
		fmt.Fprintf(&cfg, "    - sha256: %q\n      subject: %s\n      teams: [%s]\n", hex.EncodeToString(sum[:]), u, strings.Join(users[u], ", "))
		fx.apiKeys++
	}
	cfg.WriteString("connectors:\n")
	count := map[string]int{}
	regions := []string{"us-east-1", "us-west-2", "eu-west-1"}
	for i := range numTeams {
		p := teamProvider(i)
		for k := range connectorsPerTeam {
			name := fmt.Sprintf("%s-%d", teamName(i), k)
			bucket := "bench-" + name
			fmt.Fprintf(&cfg, "  %s:\n    provider: %s\n", name, p)
			switch p {
			case "s3":
				fmt.Fprintf(&cfg, "    bucket: %s\n    region: %s\n    endpoint: http://127.0.0.1:9000\n", bucket, regions[k%len(regions)])
				fmt.Fprintf(&cfg, "    credentials:\n      access_key_id_env: %s\n      secret_access_key_env: %s\n", s3KeyIDEnv, s3SecretEnv)
			case "gcs":
				fmt.Fprintf(&cfg, "    bucket: %s\n    endpoint: http://127.0.0.1:4443\n", bucket)
				fmt.Fprintf(&cfg, "    credentials:\n      service_account_file: %q\n", saFile)
			case "azure":
				fmt.Fprintf(&cfg, "    container: %s\n    endpoint: http://127.0.0.1:10000/%s\n", bucket, azAccount)
				fmt.Fprintf(&cfg, "    credentials:\n      account_name: %s\n      account_key_file: %q\n", azAccount, azKeyFile)
			}
			count[p]++
			fx.connectors++
		}
	}
	fx.providerMix = fmt.Sprintf("s3 %d, azure %d, gcs %d", count["s3"], count["azure"], count["gcs"])
	fx.configBody = cfg.String()
	return fx, nil
}

// writeConfig writes the configuration for signgate to listen on addr.
func (fx *fixture) writeConfig(addr string) error {
	head := "# Generated by signgate-bench. Secrets live in the environment and in secrets/.\n" +
		"listen: " + addr + "\n"
	return os.WriteFile(fx.configPath, []byte(head+fx.configBody), 0o600)
}

// writeBundle copies the served policy (policies/*.rego without tests) and
// writes data.json beside it: the same directory feeds both servers.
func writeBundle(root, dir string) error {
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
		return fmt.Errorf("no policies/*.rego under %s", root)
	}
	data := map[string]any{"signgate": map[string]any{"teams": makeTeams()}}
	b, err := json.MarshalIndent(data, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "data.json"), b, 0o644)
}

// serviceAccountJSON makes a throw-away RSA-2048 service-account key file:
// GCS V4 signing is local, so no Google endpoint ever sees it.
func serviceAccountJSON(email string) ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]string{
		"type":         "service_account",
		"client_email": email,
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
	})
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return b
}
