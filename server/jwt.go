package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"github.com/signgate/signgate/server/config"
)

const (
	// jwksFetchTimeout bounds one JWKS fetch. A refetch runs inside a
	// request, so it must not hold the caller for long.
	jwksFetchTimeout = 5 * time.Second
	// jwksMaxBytes is far above any real JWKS and far below memory trouble.
	jwksMaxBytes = 1 << 20
	// maxTokenBytes bounds the work an unauthenticated caller can ask for.
	// Tokens with large group claims reach a few KiB; none reach this.
	maxTokenBytes = 16 << 10
	// minRSABits is the smallest RSA modulus a JWKS key may have.
	minRSABits = 2048
)

// verifiableAlgorithms are the only JWS algorithms this verifier will ever
// use, whatever the configuration says: asymmetric ones. "none" and HS*
// are absent on purpose, so that neither an unsigned token nor an HMAC
// keyed with a public key can be accepted.
var verifiableAlgorithms = map[string]jwa.SignatureAlgorithm{
	"RS256": jwa.RS256(),
	"RS384": jwa.RS384(),
	"RS512": jwa.RS512(),
	"PS256": jwa.PS256(),
	"ES256": jwa.ES256(),
	"ES384": jwa.ES384(),
	"EdDSA": jwa.EdDSA(),
}

// JWT accepts JWTs from one OIDC issuer, verified with the keys of its
// JWKS. The JWKS is loaded at start and refetched, at most once per
// refresh interval, when a token names a kid the cached set lacks.
type JWT struct {
	issuer       string
	audience     string
	algs         map[string]jwa.SignatureAlgorithm
	leeway       time.Duration
	subjectClaim string
	teamsClaim   string
	jwksURL      string // empty when the keys come from a file
	minInterval  time.Duration

	now    func() time.Time
	client *http.Client
	log    *slog.Logger

	keys atomic.Pointer[keySet]

	mu        sync.Mutex // serialises refetches
	lastFetch time.Time  // guarded by mu
}

var _ Authenticator = (*JWT)(nil)

// JWTOption configures a JWT authenticator.
type JWTOption func(*JWT)

// withJWTClock sets the clock for exp/nbf/iat and for the refetch rate
// limit.
func withJWTClock(now func() time.Time) JWTOption { return func(j *JWT) { j.now = now } }

// withJWTHTTPClient sets the client that fetches the JWKS. It is used as
// given; fetches are also bounded by their own timeout.
func withJWTHTTPClient(c *http.Client) JWTOption { return func(j *JWT) { j.client = c } }

// WithJWTLogger sets where JWKS refresh failures go. Why a token was
// refused is logged per request, with its request id (auth.go).
// Tokens are never logged.
func WithJWTLogger(l *slog.Logger) JWTOption { return func(j *JWT) { j.log = l } }

// NewJWT loads the JWKS named by cfg and returns an authenticator for its
// tokens. cfg must be validated and have its defaults filled, as
// config.Load does; NewJWT refuses a config it could not enforce.
func NewJWT(ctx context.Context, cfg config.OIDC, opts ...JWTOption) (*JWT, error) {
	j := &JWT{
		issuer:       cfg.Issuer,
		audience:     cfg.Audience,
		algs:         map[string]jwa.SignatureAlgorithm{},
		leeway:       cfg.Leeway.Duration,
		subjectClaim: cfg.SubjectClaim,
		teamsClaim:   cfg.TeamsClaim,
		jwksURL:      cfg.JWKSURL,
		minInterval:  cfg.RefreshMinInterval.Duration,
		now:          time.Now,
		client:       jwk.DefaultHTTPClient(),
		log:          slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		o(j)
	}
	switch {
	case j.issuer == "" || j.audience == "":
		return nil, errors.New("jwt: issuer and audience are required")
	case j.subjectClaim == "" || j.teamsClaim == "":
		return nil, errors.New("jwt: subject_claim and teams_claim are required")
	case (cfg.JWKSURL == "") == (cfg.JWKSFile == ""):
		return nil, errors.New("jwt: set exactly one of jwks_url and jwks_file")
	case j.leeway < 0:
		return nil, errors.New("jwt: leeway must not be negative")
	case j.jwksURL != "" && j.minInterval <= 0:
		return nil, errors.New("jwt: refresh_min_interval must be positive")
	case len(cfg.Algorithms) == 0:
		return nil, errors.New("jwt: at least one algorithm is required")
	}
	for _, name := range cfg.Algorithms {
		alg, ok := verifiableAlgorithms[name]
		if !ok {
			return nil, fmt.Errorf("jwt: algorithm %q is not accepted", name)
		}
		j.algs[name] = alg
	}

	var (
		set jwk.Set
		err error
	)
	if cfg.JWKSFile != "" {
		set, err = jwk.ReadFile(cfg.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("jwt: read jwks_file: %w", err)
		}
	} else {
		j.lastFetch = j.now()
		set, err = j.fetch(ctx)
		if err != nil {
			return nil, err
		}
	}
	ks, err := newKeySet(set)
	if err != nil {
		return nil, err
	}
	j.keys.Store(ks)
	return j, nil
}

// Authenticate accepts a token only if every check passes: shape, an
// allowed alg in the protected header, a known key whose own alg (if any)
// agrees, the signature, iss, aud, exp (required) and nbf/iat within the
// leeway, and a non-empty subject claim.
func (j *JWT) Authenticate(token string) (Principal, bool) {
	p, reason := j.verify(token)
	return p, reason == ""
}

// explain is Authenticate with the reason for a refusal, a fixed phrase
// that the authenticate middleware logs at debug level with the request
// id. Nothing from the token is in it.
func (j *JWT) explain(token string) (Principal, string) {
	p, reason := j.verify(token)
	if reason != "" {
		return Principal{}, "jwt: " + reason
	}
	return p, ""
}

// verify returns the principal, or why the token was refused.
func (j *JWT) verify(token string) (Principal, string) {
	if !looksLikeJWT(token) {
		return Principal{}, "not a jwt"
	}
	msg, err := jws.Parse([]byte(token), jws.WithCompact())
	if err != nil || len(msg.Signatures()) != 1 {
		return Principal{}, "malformed"
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	if hdr == nil {
		return Principal{}, "malformed"
	}
	// The allow-list is checked against the header before any key is
	// looked up, so an attacker's choice of alg never reaches a verifier.
	headerAlg, ok := hdr.Algorithm()
	if !ok {
		return Principal{}, "alg missing"
	}
	alg, ok := j.algs[headerAlg.String()]
	if !ok {
		return Principal{}, "alg not allowed"
	}
	kid, _ := hdr.KeyID()
	key, ok := j.key(kid)
	if !ok {
		return Principal{}, "unknown kid"
	}
	if keyAlg, ok := key.Algorithm(); ok && keyAlg.String() != alg.String() {
		return Principal{}, "key alg mismatch"
	}
	if !ecKeyFits(key, alg) {
		return Principal{}, "key does not fit alg"
	}
	_, err = jwt.Parse([]byte(token),
		jwt.WithKey(alg, key),
		jwt.WithIssuer(j.issuer),
		jwt.WithAudience(j.audience),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
		jwt.WithAcceptableSkew(j.leeway),
		jwt.WithClock(jwt.ClockFunc(j.now)),
	)
	if err != nil {
		return Principal{}, rejection(err)
	}
	// The payload is the one just verified; decoding it ourselves keeps
	// every claim, custom ones included, exactly as the issuer wrote it.
	claims := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(msg.Payload()))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return Principal{}, "claims not an object"
	}
	sub, _ := claims[j.subjectClaim].(string)
	if sub == "" {
		return Principal{}, "subject claim missing"
	}
	teams, ok := teamsOf(claims[j.teamsClaim])
	if !ok {
		return Principal{}, "teams claim malformed"
	}
	return Principal{ID: sub, Teams: teams, AuthMethod: "jwt", Claims: claims}, ""
}

// rejection names a verification failure without echoing any part of the
// token.
func rejection(err error) string {
	switch {
	case errors.Is(err, jwt.TokenExpiredError()):
		return "expired"
	case errors.Is(err, jwt.TokenNotYetValidError()):
		return "not yet valid"
	case errors.Is(err, jwt.InvalidIssuedAtError()):
		return "issued in the future"
	case errors.Is(err, jwt.InvalidIssuerError()):
		return "wrong issuer"
	case errors.Is(err, jwt.InvalidAudienceError()):
		return "wrong audience"
	case errors.Is(err, jwt.MissingRequiredClaimError()):
		return "required claim missing"
	case errors.Is(err, jws.VerifyError()), errors.Is(err, jws.VerificationError()):
		return "bad signature"
	}
	return "invalid"
}

// teamsOf reads the teams claim: a JSON list of strings, or one string of
// space-separated names (the OAuth scope style). Absent or null means no
// teams. Anything else fails the token rather than guess.
func teamsOf(v any) ([]string, bool) {
	switch v := v.(type) {
	case nil:
		return nil, true
	case string:
		return strings.Fields(v), true
	case []any:
		teams := make([]string, 0, len(v))
		for _, t := range v {
			s, ok := t.(string)
			if !ok {
				return nil, false
			}
			if s != "" {
				teams = append(teams, s)
			}
		}
		return teams, true
	}
	return nil, false
}

// looksLikeJWT is the cheap gate before any parsing: three non-empty
// base64url segments and a sane length. API keys and garbage stop here.
func looksLikeJWT(token string) bool {
	if len(token) > maxTokenBytes || strings.Count(token, ".") != 2 {
		return false
	}
	for seg := range strings.SplitSeq(token, ".") {
		if seg == "" {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// Chain tries each authenticator in order and returns the first
// acceptance. Put API keys first: a digest compare is cheaper than a
// signature check, and an API key never looks like a JWT anyway.
func Chain(auths ...Authenticator) Authenticator {
	return chain(slices.Clone(auths))
}

type chain []Authenticator

// explain gives every authenticator's reason when all refuse, in order:
// "api key: unknown key; jwt: expired".
func (c chain) explain(token string) (Principal, string) {
	var reasons []string
	for _, a := range c {
		if a == nil {
			continue
		}
		p, reason := explain(a, token)
		if reason == "" {
			return p, ""
		}
		reasons = append(reasons, reason)
	}
	if len(reasons) == 0 {
		return Principal{}, "no authenticator configured"
	}
	return Principal{}, strings.Join(reasons, "; ")
}

func (c chain) Authenticate(token string) (Principal, bool) {
	for _, a := range c {
		if a == nil {
			continue
		}
		if p, ok := a.Authenticate(token); ok {
			return p, true
		}
	}
	return Principal{}, false
}
