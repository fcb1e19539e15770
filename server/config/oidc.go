package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// OIDC accepts JWTs issued by one OpenID Connect provider (or any JWT
// issuer that publishes a JWKS). The keys come from jwks_url or jwks_file;
// tokens are never trusted to say where their keys are.
type OIDC struct {
	Issuer   string `json:"issuer"`    // exact match with the token's iss
	Audience string `json:"audience"`  // must be one of the token's aud values
	JWKSURL  string `json:"jwks_url"`  // https (http only on 127.0.0.1/localhost)
	JWKSFile string `json:"jwks_file"` // a JWKS on disk, read once at start
	// Algorithms are the signature algorithms accepted in a token's
	// protected header. Only asymmetric ones: an HMAC algorithm would let
	// anyone who holds the public key mint tokens.
	Algorithms []string `json:"algorithms"`
	// Leeway is the clock skew allowed on exp, nbf and iat. Unset or 0
	// means the default, 30s.
	Leeway       Duration `json:"leeway"`
	SubjectClaim string   `json:"subject_claim"` // default sub
	TeamsClaim   string   `json:"teams_claim"`   // default groups
	// RefreshMinInterval bounds how often an unknown kid may trigger a
	// JWKS refetch, so that a flood of made-up kids cannot hammer the IdP.
	RefreshMinInterval Duration `json:"refresh_min_interval"`
}

// allowedAlgorithms are the asymmetric JWS algorithms signgate verifies.
var allowedAlgorithms = map[string]bool{
	"RS256": true, "RS384": true, "RS512": true,
	"PS256": true,
	"ES256": true, "ES384": true,
	"EdDSA": true,
}

const maxLeeway = 5 * time.Minute

func (o *OIDC) setDefaults() {
	if len(o.Algorithms) == 0 {
		o.Algorithms = []string{"RS256", "ES256", "EdDSA"}
	}
	if o.Leeway.Duration == 0 {
		o.Leeway.Duration = 30 * time.Second
	}
	if o.SubjectClaim == "" {
		o.SubjectClaim = "sub"
	}
	if o.TeamsClaim == "" {
		o.TeamsClaim = "groups"
	}
	if o.RefreshMinInterval.Duration == 0 {
		o.RefreshMinInterval.Duration = 30 * time.Second
	}
}

func (o *OIDC) validate(p string, bad func(path, format string, args ...any)) {
	if o.Issuer == "" {
		bad(p+".issuer", "required")
	}
	if o.Audience == "" {
		bad(p+".audience", "required")
	}
	switch {
	case o.JWKSURL == "" && o.JWKSFile == "":
		bad(p, "set exactly one of jwks_url and jwks_file")
	case o.JWKSURL != "" && o.JWKSFile != "":
		bad(p, "set exactly one of jwks_url and jwks_file, not both")
	case o.JWKSURL != "":
		validateJWKSURL(p+".jwks_url", o.JWKSURL, bad)
	}
	if len(o.Algorithms) == 0 {
		bad(p+".algorithms", "at least one algorithm is required")
	}
	for i, a := range o.Algorithms {
		ap := fmt.Sprintf("%s.algorithms[%d]", p, i)
		switch {
		case allowedAlgorithms[a]:
		case strings.EqualFold(a, "none"):
			bad(ap, "%q is never accepted: it means an unsigned token", a)
		case strings.HasPrefix(strings.ToUpper(a), "HS"):
			bad(ap, "%q is never accepted: an HMAC secret cannot be shared with an IdP safely, and HMAC with a public key lets anyone sign", a)
		default:
			bad(ap, "want one of RS256, RS384, RS512, PS256, ES256, ES384, EdDSA, got %q", a)
		}
	}
	if o.Leeway.Duration < 0 || o.Leeway.Duration > maxLeeway {
		bad(p+".leeway", "want between 0 and %s, got %s", maxLeeway, o.Leeway.Duration)
	}
	if o.SubjectClaim == "" {
		bad(p+".subject_claim", "required")
	}
	if o.TeamsClaim == "" {
		bad(p+".teams_claim", "required")
	}
	if o.RefreshMinInterval.Duration < time.Second {
		bad(p+".refresh_min_interval", "want at least 1s, got %s", o.RefreshMinInterval.Duration)
	}
}

// validateJWKSURL requires https, so that the keys that decide who a caller
// is cannot be swapped on the wire. Plain http is allowed on loopback only,
// for tests and a local IdP.
func validateJWKSURL(p, raw string, bad func(path, format string, args ...any)) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		bad(p, "want an absolute URL")
		return
	}
	if u.User != nil {
		bad(p, "must not carry credentials")
		return
	}
	switch u.Scheme {
	case "https":
	case "http":
		if h := u.Hostname(); h != "127.0.0.1" && h != "localhost" {
			bad(p, "want https (http only on 127.0.0.1 or localhost), got %q", raw)
		}
	default:
		bad(p, "want an https URL, got %q", raw)
	}
}
