package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Policy says where the policy bundle comes from, how it must be signed,
// and who may see OPA's explanation of a decision (docs/configuration.md).
type Policy struct {
	// Source is embedded (default: the policy compiled into the binary),
	// directory (a bundle directory, watched for changes) or service (an
	// OPA bundle service, polled).
	Source    string `json:"source"`
	Directory string `json:"directory"` // for source: directory
	// WatchDebounce is how long a watched directory must stay quiet before
	// a change is loaded. Default 250ms.
	WatchDebounce Duration `json:"watch_debounce"`
	// OPAConfig is, for source: service, OPA's own configuration: its
	// services, bundles (exactly one) and keys sections, as OPA documents
	// them. Secrets in it come from ${ENV} references or *_path files.
	OPAConfig json.RawMessage `json:"opa_config" config:"noexpand"` // ExpandOPAConfig resolves its ${ENV}
	// RequireBundle keeps the embedded policy from ever serving: signgate
	// stays not ready until the source delivers a first good revision.
	// Without it, the embedded policy serves until then.
	RequireBundle bool `json:"require_bundle"`
	// Verification requires every bundle to be signed (.signatures.json)
	// by one of these keys.
	Verification *Verification `json:"verification"`
	// AdminSubjects may ask POST /v1/decide?explain for OPA's trace and
	// decide as any subject (docs/api.md).
	AdminSubjects []string `json:"admin_subjects"`
	// ExplainSubjects is the former name of AdminSubjects; both count.
	ExplainSubjects []string `json:"explain_subjects"`
}

// Admins are the subjects of admin_subjects and explain_subjects.
func (p *Policy) Admins() []string {
	return append(append([]string{}, p.AdminSubjects...), p.ExplainSubjects...)
}

// Verification is OPA's bundle signature verification: keys by id, the key
// id to use (otherwise the signature's own), and the scope a signature
// must carry.
type Verification struct {
	Keys         map[string]VerificationKey `json:"keys"`
	KeyID        string                     `json:"key_id"`
	Scope        string                     `json:"scope"`
	ExcludeFiles []string                   `json:"exclude_files"`
}

// VerificationKey is a public key (RSA or ECDSA, PEM) or an HMAC secret.
// Set exactly one of key (a public key inline), key_file and key_env; an
// HMAC secret is never inline.
type VerificationKey struct {
	Algorithm string `json:"algorithm"` // default RS256
	Key       string `json:"key"`
	KeyFile   string `json:"key_file"`
	KeyEnv    string `json:"key_env"`
}

// verificationAlgorithms are the algorithms OPA verifies bundles with.
var verificationAlgorithms = []string{"ES256", "ES384", "ES512", "HS256", "HS384", "HS512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512"}

// opaConfigSections are the sections of opa_config that signgate reads.
var opaConfigSections = []string{"services", "bundles", "keys"}

func (p *Policy) setDefaults() {
	if p.Source == "" {
		p.Source = "embedded"
	}
	if p.WatchDebounce.Duration == 0 {
		p.WatchDebounce.Duration = 250 * time.Millisecond
	}
	if p.Verification != nil {
		for id, k := range p.Verification.Keys {
			if k.Algorithm == "" {
				k.Algorithm = "RS256"
				p.Verification.Keys[id] = k
			}
		}
	}
}

func (p *Policy) validate(path string, bad func(path, format string, args ...any)) {
	switch p.Source {
	case "embedded":
		if p.RequireBundle {
			bad(path+".require_bundle", "needs a directory or service source; the embedded policy is not a bundle one can require")
		}
		if p.Verification != nil {
			bad(path+".verification", "needs a directory or service source; the embedded policy is not signed")
		}
	case "directory":
		if p.Directory == "" {
			bad(path+".directory", "required when policy.source is directory")
		}
	case "service":
		p.validateOPAConfig(path+".opa_config", bad)
	default:
		bad(path+".source", "want embedded, directory or service, got %q", p.Source)
	}
	if p.Source != "directory" && p.Directory != "" {
		bad(path+".directory", "only for policy.source: directory")
	}
	if p.Source != "service" && len(p.OPAConfig) > 0 {
		bad(path+".opa_config", "only for policy.source: service")
	}
	if p.WatchDebounce.Duration < 0 {
		bad(path+".watch_debounce", "must not be negative")
	}
	if v := p.Verification; v != nil {
		v.validate(path+".verification", bad)
	}
	for i, s := range p.ExplainSubjects {
		if strings.TrimSpace(s) == "" {
			bad(fmt.Sprintf("%s.explain_subjects[%d]", path, i), "empty subject")
		}
	}
	for i, s := range p.AdminSubjects {
		if strings.TrimSpace(s) == "" {
			bad(fmt.Sprintf("%s.admin_subjects[%d]", path, i), "empty subject")
		}
	}
}

func (v *Verification) validate(path string, bad func(path, format string, args ...any)) {
	if len(v.Keys) == 0 {
		bad(path+".keys", "at least one key is required")
	}
	ids := make([]string, 0, len(v.Keys))
	for id := range v.Keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		k, p := v.Keys[id], path+".keys."+id
		set := 0
		for _, s := range []string{k.Key, k.KeyFile, k.KeyEnv} {
			if s != "" {
				set++
			}
		}
		if set != 1 {
			bad(p, "set exactly one of key, key_file and key_env")
		}
		if !slices.Contains(verificationAlgorithms, k.Algorithm) {
			bad(p+".algorithm", "want one of %s, got %q", strings.Join(verificationAlgorithms, ", "), k.Algorithm)
		}
		if strings.HasPrefix(k.Algorithm, "HS") && k.Key != "" {
			bad(p+".key", "an HMAC key is a secret: use key_file or key_env")
		}
		if k.Key != "" && !strings.Contains(k.Key, "-----BEGIN") {
			bad(p+".key", "want a PEM public key")
		}
	}
	if v.KeyID != "" {
		if _, ok := v.Keys[v.KeyID]; !ok {
			bad(path+".key_id", "names no key in keys: %q", v.KeyID)
		}
	}
}

func (p *Policy) validateOPAConfig(path string, bad func(path, format string, args ...any)) {
	if len(p.OPAConfig) == 0 || bytes.Equal(p.OPAConfig, []byte("null")) {
		bad(path, "required when policy.source is service: OPA's services and bundles sections")
		return
	}
	var sections map[string]json.RawMessage
	if err := json.Unmarshal(p.OPAConfig, &sections); err != nil {
		bad(path, "want an object of OPA configuration sections: %v", err)
		return
	}
	for _, k := range sortedKeys(sections) {
		if !slices.Contains(opaConfigSections, k) {
			bad(path+"."+k, "not used; signgate reads only %s", strings.Join(opaConfigSections, ", "))
		}
	}
	if sections["bundles"] == nil {
		bad(path+".bundles", "required: the one bundle to download")
	}
	if p.Verification != nil {
		if sections["keys"] != nil {
			bad(path+".keys", "set verification keys in policy.verification or here, not both")
		}
		var bundles map[string]map[string]json.RawMessage
		_ = json.Unmarshal(sections["bundles"], &bundles)
		for _, name := range sortedKeys(bundles) {
			if bundles[name]["signing"] != nil {
				bad(path+".bundles."+name+".signing", "policy.verification decides how bundles are verified; remove this block")
			}
		}
	}
	var services map[string]map[string]any
	_ = json.Unmarshal(sections["services"], &services)
	for _, name := range sortedKeys(services) {
		inlineSecrets(path+".services."+name+".credentials", services[name]["credentials"], bad)
	}
}

var (
	envRef  = regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*\}$`)
	envRefs = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*\}`)
)

// inlineSecrets reports a credential written into the file. OPA reads
// bearer tokens from token_path, and every other secret can be an ${ENV}
// reference, which ExpandOPAConfig resolves.
func inlineSecrets(path string, v any, bad func(path, format string, args ...any)) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	for _, k := range sortedKeys(m) {
		switch val := m[k].(type) {
		case map[string]any:
			inlineSecrets(path+"."+k, val, bad)
		case string:
			if slices.Contains([]string{"token", "client_secret", "password", "secret"}, k) && !envRef.MatchString(val) {
				bad(path+"."+k, "a secret is never written in the file: use an ${ENV} reference (or token_path for a bearer token)")
			}
		}
	}
}

// ExpandOPAConfig returns opa_config with every ${NAME} in its strings
// replaced by that environment variable, as OPA does for its own
// configuration file ($NAME without braces is left alone). An unset
// variable is an error.
func (p *Policy) ExpandOPAConfig() ([]byte, error) {
	var doc any
	if err := json.Unmarshal(p.OPAConfig, &doc); err != nil {
		return nil, fmt.Errorf("config: policy.opa_config: %w", err)
	}
	var missing []string
	var expand func(v any) any
	expand = func(v any) any {
		switch val := v.(type) {
		case map[string]any:
			for k, x := range val {
				val[k] = expand(x)
			}
		case []any:
			for i, x := range val {
				val[i] = expand(x)
			}
		case string:
			return envRefs.ReplaceAllStringFunc(val, func(ref string) string {
				name := ref[2 : len(ref)-1]
				s, ok := os.LookupEnv(name)
				if !ok {
					missing = append(missing, name)
				}
				return s
			})
		}
		return v
	}
	doc = expand(doc)
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("config: policy.opa_config: environment variables not set: %s", strings.Join(missing, ", "))
	}
	return json.Marshal(doc)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
