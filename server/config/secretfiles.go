package config

import (
	"fmt"
	"os"
	"strings"
)

// SecretFile is a file the configuration reads a secret from, named by the
// field that points at it.
type SecretFile struct {
	Field string // such as connectors.vision-s3.credentials.secret_access_key_file
	Path  string
}

// SecretFiles lists every file that holds a secret: storage credentials,
// the TLS private key, the decision-log service token, and bundle
// verification keys of an HMAC algorithm (a public key is not a secret).
func (c *Config) SecretFiles() []SecretFile {
	var out []SecretFile
	add := func(field, path string) {
		if path != "" {
			out = append(out, SecretFile{Field: field, Path: path})
		}
	}
	for _, name := range sortedKeys(c.Connectors) {
		cr, p := c.Connectors[name].Credentials, "connectors."+name+".credentials."
		add(p+"access_key_id_file", cr.AccessKeyIDFile)
		add(p+"secret_access_key_file", cr.SecretAccessKeyFile)
		add(p+"service_account_file", cr.ServiceAccountFile)
		add(p+"account_key_file", cr.AccountKeyFile)
	}
	add("server.tls.key_file", c.Server.TLS.KeyFile)
	add("audit.service.token_file", c.Audit.Service.TokenFile)
	for _, id := range sortedKeys(verificationKeys(c.Policy.Verification)) {
		if k := c.Policy.Verification.Keys[id]; strings.HasPrefix(k.Algorithm, "HS") {
			add("policy.verification.keys."+id+".key_file", k.KeyFile)
		}
	}
	return out
}

// LooseSecretFiles describes each secret file that its group or other
// users may read. A file that cannot be examined is left to the code that
// reads it, which fails with its own error.
func (c *Config) LooseSecretFiles() []string {
	var loose []string
	for _, f := range c.SecretFiles() {
		info, err := os.Stat(f.Path) // through symbolic links, to the file that is read
		if err != nil {
			continue
		}
		if perm := info.Mode().Perm(); perm&0o044 != 0 {
			loose = append(loose, fmt.Sprintf("%s: %s has mode %04o, readable by group or others (want 0600 or 0400)", f.Field, f.Path, perm))
		}
	}
	return loose
}

func verificationKeys(v *Verification) map[string]VerificationKey {
	if v == nil {
		return nil
	}
	return v.Keys
}
