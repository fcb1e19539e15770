package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signgate/signgate/server/config"
)

// vision is a valid file with an S3 connector named as in the docs.
const vision = `listen: 127.0.0.1:8080
auth:
  api_keys:
    - sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
      subject: alice
connectors:
  vision-s3:
    provider: s3
    bucket: vision
    region: eu-west-1
    credentials:
      access_key_id_env: AWS_ACCESS_KEY_ID
      secret_access_key_env: AWS_SECRET_ACCESS_KEY
`

func TestLoadNamesThePlace(t *testing.T) {
	tests := []struct {
		name      string
		givenYAML string
		wantErr   string // the whole message; the file is signgate.yaml
	}{
		{
			name:      "suggests the field meant for a misspelt one, with its full path",
			givenYAML: strings.Replace(vision, "access_key_id_env:", "acess_key_id_env:", 1),
			wantErr:   `config: signgate.yaml:12: connectors.vision-s3.credentials: unknown field "acess_key_id_env" (did you mean access_key_id_env?)`,
		},
		{
			name:      "suggests the right case of a field",
			givenYAML: strings.Replace(vision, "  bucket:", "  Bucket:", 1),
			wantErr:   `config: signgate.yaml:9: connectors.vision-s3: unknown field "Bucket" (did you mean bucket?)`,
		},
		{
			name:      "names an unknown top-level field without a far-fetched suggestion",
			givenYAML: vision + "frobnicate: true\n",
			wantErr:   `config: signgate.yaml:14: unknown field "frobnicate"`,
		},
		{
			name:      "names an unknown field inside a list item",
			givenYAML: strings.Replace(vision, "      subject: alice", "      subjet: alice", 1),
			wantErr:   `config: signgate.yaml:5: auth.api_keys[0]: unknown field "subjet" (did you mean subject?)`,
		},
		{
			name:      "reports every unknown field, not only the first",
			givenYAML: strings.Replace(strings.Replace(vision, "region:", "regoin:", 1), "listen:", "lsten:", 1),
			wantErr: `config: signgate.yaml:1: unknown field "lsten" (did you mean listen?)` + "\n" +
				`config: signgate.yaml:10: connectors.vision-s3: unknown field "regoin" (did you mean region?)`,
		},
		{
			name:      "names the file and line of a YAML syntax error",
			givenYAML: "listen: 127.0.0.1:8080\nauth:\n  api_keys: [\n",
			wantErr:   "config: signgate.yaml: yaml: line 3: did not find expected node content",
		},
		{
			name:      "names the file and line of a tab in the indentation",
			givenYAML: "listen: 127.0.0.1:8080\nauth:\n\tapi_keys: []\n",
			wantErr:   "config: signgate.yaml: yaml: line 3: found character that cannot start any token",
		},
		{
			name:      "names the path and line of a value of the wrong type",
			givenYAML: vision + "server:\n  gc_percent: lots\n",
			wantErr:   `config: signgate.yaml:15: server.gc_percent: want a whole number, got "lots"`,
		},
		{
			name:      "names the path and line of a bad duration",
			givenYAML: vision + "server:\n  shutdown_timeout: 10\n",
			wantErr:   `config: signgate.yaml:15: server.shutdown_timeout: invalid duration "10"`,
		},
		{
			name:      "refuses a list where a mapping belongs",
			givenYAML: vision + "audit: [console]\n",
			wantErr:   `config: signgate.yaml:14: audit: want a mapping, got a list`,
		},
		{
			name:      "refuses a field written twice",
			givenYAML: vision + "listen: 0.0.0.0:8080\n",
			wantErr:   `config: signgate.yaml:14: listen: written twice in the same mapping`,
		},
		{
			name:      "names an unset environment variable and its place",
			givenYAML: strings.Replace(vision, "bucket: vision", "bucket: ${SIGNGATE_TEST_UNSET_BUCKET}", 1),
			wantErr:   `config: signgate.yaml:9: connectors.vision-s3.bucket: environment variable SIGNGATE_TEST_UNSET_BUCKET is not set (referenced as ${SIGNGATE_TEST_UNSET_BUCKET})`,
		},
		{
			name:      "refuses a malformed reference",
			givenYAML: strings.Replace(vision, "bucket: vision", "bucket: ${vision-bucket}", 1),
			wantErr:   `config: signgate.yaml:9: connectors.vision-s3.bucket: ${vision-bucket}: want ${NAME}, NAME of letters, digits and _ (write $$ for a literal $)`,
		},
		{
			name:      "refuses an unterminated reference",
			givenYAML: strings.Replace(vision, "bucket: vision", "bucket: ${VISION", 1),
			wantErr:   `config: signgate.yaml:9: connectors.vision-s3.bucket: unterminated ${ (write $$ for a literal $)`,
		},
		{
			name:      "names the path of a bad log level",
			givenYAML: vision + "log:\n  level: verbose\n",
			wantErr:   `config: log.level: want debug, info, warn or error, got "verbose"`,
		},
		{
			name:      "names the path of a bad log format",
			givenYAML: vision + "log:\n  format: logfmt\n",
			wantErr:   `config: log.format: want json or text, got "logfmt"`,
		},
		{
			name: "refuses aliases that expand without bound",
			givenYAML: vision + "policy:\n  source: service\n  opa_config:\n    a: &a [x, x, x, x, x, x, x, x, x, x]\n" +
				"    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n" +
				"    d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n" +
				"    f: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
			wantErr: `config: signgate.yaml:17: policy.opa_config.e[7][8][8][7][2]: more than 100000 values once aliases are expanded`,
		},
		{
			name:      "refuses a second YAML document",
			givenYAML: vision + "---\nlisten: 0.0.0.0:1\n",
			wantErr:   `config: signgate.yaml: want one YAML document, found another at line 14`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "signgate.yaml")
			if err := os.WriteFile(path, []byte(tt.givenYAML), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := config.Load(path)
			if err == nil {
				t.Fatal("loaded; want an error")
			}
			if got := strings.ReplaceAll(err.Error(), path, "signgate.yaml"); got != tt.wantErr {
				t.Fatalf("error:\n got: %s\nwant: %s", got, tt.wantErr)
			}
		})
	}
}

func TestLoadExpandsEnvironment(t *testing.T) {
	t.Setenv("SIGNGATE_TEST_BUCKET", "vision-prod")
	t.Setenv("SIGNGATE_TEST_GC", "400")
	t.Setenv("SIGNGATE_TEST_PORT", "9090")
	t.Setenv("SIGNGATE_TEST_EMPTY", "")
	t.Setenv("SIGNGATE_TEST_NAME", "vision-s3")
	tests := []struct {
		name      string
		givenYAML string
		want      func(*config.Config) bool
	}{
		{
			name:      "replaces a reference in a string",
			givenYAML: strings.Replace(vision, "bucket: vision", "bucket: ${SIGNGATE_TEST_BUCKET}", 1),
			want:      func(c *config.Config) bool { return c.Connectors["vision-s3"].Bucket == "vision-prod" },
		},
		{
			name:      "replaces a reference inside a longer string",
			givenYAML: strings.Replace(vision, "listen: 127.0.0.1:8080", "listen: 127.0.0.1:${SIGNGATE_TEST_PORT}", 1),
			want:      func(c *config.Config) bool { return c.Listen == "127.0.0.1:9090" },
		},
		{
			name:      "types a replaced number as YAML types a written one",
			givenYAML: vision + "server:\n  gc_percent: ${SIGNGATE_TEST_GC}\n",
			want:      func(c *config.Config) bool { return c.Server.GCPercent == 400 },
		},
		{
			name:      "uses a variable set to the empty string as it is",
			givenYAML: vision + "audit:\n  instance_id: \"a${SIGNGATE_TEST_EMPTY}b\"\n",
			want:      func(c *config.Config) bool { return c.Audit.InstanceID == "ab" },
		},
		{
			name:      "replaces a reference in a connector's name",
			givenYAML: strings.Replace(vision, "  vision-s3:", "  ${SIGNGATE_TEST_NAME}:", 1),
			want:      func(c *config.Config) bool { _, ok := c.Connectors["vision-s3"]; return ok },
		},
		{
			name:      "writes $$ as one $ and keeps a lone $",
			givenYAML: vision + "audit:\n  instance_id: \"a$$b-$c-$${SIGNGATE_TEST_BUCKET}\"\n",
			want:      func(c *config.Config) bool { return c.Audit.InstanceID == "a$b-$c-${SIGNGATE_TEST_BUCKET}" },
		},
		{
			name:      "keeps a number written for a string field as that string",
			givenYAML: vision + "network:\n  gcp_access_policy: 123456789\n",
			want:      func(c *config.Config) bool { return c.Network.GCPAccessPolicy == "123456789" },
		},
		{
			name:      "applies YAML merge keys",
			givenYAML: strings.Replace(vision, "  vision-s3:", "  eu: &eu {provider: s3, bucket: eu, region: eu-west-1}\n  eu-2: {<<: *eu, bucket: eu2}\n  vision-s3:", 1),
			want: func(c *config.Config) bool {
				eu2 := c.Connectors["eu-2"]
				return eu2.Provider == "s3" && eu2.Region == "eu-west-1" && eu2.Bucket == "eu2"
			},
		},
		{
			name:      "reads log settings",
			givenYAML: vision + "log:\n  level: debug\n  format: text\n",
			want:      func(c *config.Config) bool { return c.Log == config.Log{Level: "debug", Format: "text"} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse([]byte(tt.givenYAML))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(c) {
				t.Fatalf("unexpected result: %+v", c)
			}
		})
	}
}

func TestLoadKeepsOPAConfigReferencesForOPA(t *testing.T) {
	// opa_config's references are OPA's: they stay in the file's text and
	// are resolved when OPA's configuration is built, so an unset one
	// fails there, not at load time.
	c, err := config.Parse([]byte(base + strings.Replace(service, "url: https://bundles.example.com", "url: https://${SIGNGATE_TEST_UNSET_HOST}", 1)))
	if err != nil {
		t.Fatalf("Load resolved opa_config: %v", err)
	}
	if !strings.Contains(string(c.Policy.OPAConfig), "${SIGNGATE_TEST_UNSET_HOST}") {
		t.Fatalf("opa_config = %s", c.Policy.OPAConfig)
	}
	if _, err := c.Policy.ExpandOPAConfig(); err == nil || !strings.Contains(err.Error(), "SIGNGATE_TEST_UNSET_HOST") {
		t.Fatalf("ExpandOPAConfig err = %v", err)
	}
}
