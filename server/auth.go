package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/labstack/echo/v4"
	"github.com/signgate/signgate/server/config"
)

// Principal is an authenticated caller.
type Principal struct {
	ID         string
	Teams      []string
	AuthMethod string
	Claims     map[string]any
}

// Qualified is the principal's name namespaced by how it authenticated:
// "key:carol" for the API key of subject carol, "jwt:<issuer>#<sub>" for a
// token, so that a token whose sub is "carol" is not the API key's carol.
// An issuer is an https URL, which has no fragment, so the first "#" ends
// it.
func (p Principal) Qualified() string {
	switch p.AuthMethod {
	case "api_key":
		return "key:" + p.ID
	case "jwt":
		iss, _ := p.Claims["iss"].(string)
		return "jwt:" + iss + "#" + p.ID
	}
	return p.AuthMethod + ":" + p.ID
}

// Authenticator turns a bearer credential into a Principal.
type Authenticator interface {
	// Authenticate returns ok=false for any credential it does not accept.
	Authenticate(token string) (Principal, bool)
}

// APIKeys accepts keys whose SHA-256 is configured.
type APIKeys struct {
	keys []apiKey
}

type apiKey struct {
	sum [sha256.Size]byte
	p   Principal
}

// NewAPIKeys builds an authenticator from validated config entries.
func NewAPIKeys(entries []config.APIKey) (*APIKeys, error) {
	a := &APIKeys{}
	for _, e := range entries {
		raw, err := hex.DecodeString(e.SHA256)
		if err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("api key of %q: sha256 must be 64 hex characters", e.Subject)
		}
		k := apiKey{p: Principal{ID: e.Subject, Teams: append([]string{}, e.Teams...), AuthMethod: "api_key", Claims: map[string]any{}}}
		copy(k.sum[:], raw)
		a.keys = append(a.keys, k)
	}
	return a, nil
}

// Authenticate compares the key's digest with every configured digest in
// constant time, so timing reveals neither the key nor which entry matched.
func (a *APIKeys) Authenticate(token string) (Principal, bool) {
	var buf [128]byte // a key up to 128 bytes is hashed without a heap copy
	sum := sha256.Sum256(append(buf[:0], token...))
	match := -1
	for i := range a.keys {
		if subtle.ConstantTimeCompare(sum[:], a.keys[i].sum[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return Principal{}, false
	}
	return a.keys[match].p, true
}

const principalKey = "signgate.principal"

// authenticate requires a valid bearer credential on every route it wraps.
// Every failure looks the same to the caller; why it failed is logged at
// debug level, as a fixed phrase that holds nothing of the credential.
func authenticate(a Authenticator, log *slog.Logger) echo.MiddlewareFunc {
	refuse := func(c echo.Context, reason string) error {
		log.Debug("credential refused", "request_id", c.Response().Header().Get(echo.HeaderXRequestID), "reason", reason)
		return unauthenticated()
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Request().Header.Get(echo.HeaderAuthorization)
			if h == "" {
				return refuse(c, "no authorization header")
			}
			scheme, token, ok := strings.Cut(h, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
				return refuse(c, "not a bearer credential")
			}
			p, reason := explain(a, strings.TrimSpace(token))
			if reason != "" {
				return refuse(c, reason)
			}
			c.Set(principalKey, p)
			return next(c)
		}
	}
}

func unauthenticated() *apiError {
	return problem(http.StatusUnauthorized, codeUnauthenticated, "missing or invalid credentials", nil)
}

func principal(c echo.Context) Principal {
	p, _ := c.Get(principalKey).(Principal)
	return p
}

// LiveAuthenticator delegates to an Authenticator that a configuration
// reload can replace: requests in flight finish with the one they started
// with, and the next request uses the new one.
type LiveAuthenticator struct {
	cur atomic.Pointer[Authenticator]
}

// NewLiveAuthenticator starts with a.
func NewLiveAuthenticator(a Authenticator) *LiveAuthenticator {
	l := &LiveAuthenticator{}
	l.Store(a)
	return l
}

// Store replaces the authenticator for the next request.
func (l *LiveAuthenticator) Store(a Authenticator) { l.cur.Store(&a) }

// Authenticate asks the current authenticator.
func (l *LiveAuthenticator) Authenticate(token string) (Principal, bool) {
	return (*l.cur.Load()).Authenticate(token)
}

// explain keeps the current authenticator's reasons for the debug log.
func (l *LiveAuthenticator) explain(token string) (Principal, string) {
	return explain(*l.cur.Load(), token)
}

// explainer is an Authenticator that can say why it refused a credential:
// a fixed phrase, never any part of the credential.
type explainer interface {
	explain(token string) (Principal, string)
}

// explain returns the principal, or the reason a refused that token.
func explain(a Authenticator, token string) (Principal, string) {
	if e, ok := a.(explainer); ok {
		return e.explain(token)
	}
	if p, ok := a.Authenticate(token); ok {
		return p, ""
	}
	return Principal{}, "refused"
}

func (a *APIKeys) explain(token string) (Principal, string) {
	if p, ok := a.Authenticate(token); ok {
		return p, ""
	}
	return Principal{}, "api key: unknown key"
}
