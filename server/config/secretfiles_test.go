package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signgate/signgate/server/config"
)

func TestLooseSecretFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("secret"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	tight, groupRead, worldRead := write("tight", 0o600), write("group", 0o640), write("world", 0o644)
	pub := write("public.pem", 0o644)
	c := config.Config{
		Connectors: map[string]config.Connector{
			"a-s3": {Credentials: config.Credentials{AccessKeyIDFile: tight, SecretAccessKeyFile: groupRead}},
			"b-az": {Credentials: config.Credentials{AccountKeyFile: worldRead}},
		},
		Policy: config.Policy{Verification: &config.Verification{Keys: map[string]config.VerificationKey{
			"pub":  {Algorithm: "RS256", KeyFile: pub},
			"hmac": {Algorithm: "HS256", KeyFile: worldRead},
		}}},
	}
	c.Audit.Service.TokenFile = filepath.Join(dir, "missing") // left to the reader's own error
	loose := c.LooseSecretFiles()
	want := []string{
		"connectors.a-s3.credentials.secret_access_key_file",
		"connectors.b-az.credentials.account_key_file",
		"policy.verification.keys.hmac.key_file",
	}
	if len(loose) != len(want) {
		t.Fatalf("loose = %q, want %d entries for %v", loose, len(want), want)
	}
	for i, w := range want {
		if !strings.HasPrefix(loose[i], w+": ") {
			t.Errorf("loose[%d] = %q, want it to name %s", i, loose[i], w)
		}
	}
	if !strings.Contains(loose[1], "mode 0644") {
		t.Errorf("loose[1] = %q, want the mode", loose[1])
	}
}
