// Package iamfake stands in for the two Google endpoints that keyless GCS
// signing calls, for tests: the IAM Credentials API's signBlob
// (POST /v1/projects/-/serviceAccounts/{email}:signBlob, answering
// {"keyId","signedBlob"} as Google does) with a real RSA key, and an OAuth
// token endpoint for the caller's own credentials. No open-source server
// implements IAM Credentials; this one signs for real, so the URLs it
// helps make verify with the key's public half.
package iamfake

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is how signBlob answers.
type Mode int

// The ways signBlob can answer.
const (
	Sign    Mode = iota // sign with the key
	Deny                // 403 PERMISSION_DENIED, as without roles/iam.serviceAccountTokenCreator
	Slow                // sign, but only after Delay
	Garbage             // 200 with a body that is not a signBlob answer
	Short               // 200 with a well-formed answer whose signature is too short
)

// Token is the access token the token endpoint issues and signBlob wants.
const Token = "iamfake-access-token"

// Server is a running stand-in; Close stops it.
type Server struct {
	URL   string // base URL, for IAMConfig.Endpoint
	Email string // the one account it signs for
	Key   *rsa.PrivateKey

	// Delay is how long a Slow answer waits.
	Delay time.Duration

	mode       atomic.Int64
	SignBlobs  atomic.Int64 // signBlob calls answered
	Tokens     atomic.Int64 // tokens issued
	inFlight   atomic.Int64
	MaxFlight  atomic.Int64 // most signBlob calls in flight at once
	srv        *httptest.Server
	mu         sync.Mutex
	lastRefuse string
}

// Start serves signBlob for email with key on 127.0.0.1.
func Start(email string, key *rsa.PrivateKey) *Server {
	s := &Server{Email: email, Key: key, Delay: 2 * time.Second}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/projects/-/serviceAccounts/{rest}", s.signBlob)
	mux.HandleFunc("POST /token", s.token)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	return s
}

// SetMode changes how signBlob answers from now on.
func (s *Server) SetMode(m Mode) { s.mode.Store(int64(m)) }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// LastRefusal says why the last request was refused.
func (s *Server) LastRefusal() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastRefuse
}

func (s *Server) refuse(w http.ResponseWriter, status int, state, msg string) {
	s.mu.Lock()
	s.lastRefuse = msg
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": status, "message": msg, "status": state}})
}

// CredentialsJSON is a service-account credentials file whose token_uri is
// this server, for GOOGLE_APPLICATION_CREDENTIALS: the caller's identity.
// The key in it is the caller's own, not the one signBlob signs with.
func (s *Server) CredentialsJSON(callerEmail string, callerKeyPEM string) []byte {
	b, _ := json.Marshal(map[string]string{
		"type":         "service_account",
		"client_email": callerEmail,
		"private_key":  callerKeyPEM,
		"token_uri":    s.URL + "/token",
	})
	return b
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("assertion") == "" {
		s.refuse(w, http.StatusBadRequest, "INVALID_ARGUMENT", "token: want a JWT-bearer assertion")
		return
	}
	s.Tokens.Add(1)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": Token, "token_type": "Bearer", "expires_in": 3600})
}

func (s *Server) signBlob(w http.ResponseWriter, r *http.Request) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.MaxFlight.Load()
		if n <= m || s.MaxFlight.CompareAndSwap(m, n) {
			break
		}
	}
	email, ok := strings.CutSuffix(r.PathValue("rest"), ":signBlob")
	switch {
	case !ok:
		s.refuse(w, http.StatusNotFound, "NOT_FOUND", "no such method")
		return
	case r.Header.Get("Authorization") != "Bearer "+Token:
		s.refuse(w, http.StatusUnauthorized, "UNAUTHENTICATED", "signBlob: missing or wrong access token")
		return
	case email != s.Email:
		s.refuse(w, http.StatusNotFound, "NOT_FOUND", "signBlob: unknown service account "+email)
		return
	}
	var req struct {
		Payload []byte `json:"payload"` // base64 in JSON, as protojson writes bytes
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Payload) == 0 {
		s.refuse(w, http.StatusBadRequest, "INVALID_ARGUMENT", "signBlob: want {\"payload\": base64}")
		return
	}
	switch Mode(s.mode.Load()) {
	case Deny:
		s.refuse(w, http.StatusForbidden, "PERMISSION_DENIED", "Permission 'iam.serviceAccounts.signBlob' denied on resource (or it may not exist).")
		return
	case Slow:
		select {
		case <-time.After(s.Delay):
		case <-r.Context().Done():
			return
		}
	case Garbage:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"keyId": 7, "signedBlob": "not base64!"`))
		return
	case Short:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keyId": "k", "signedBlob": []byte("short")})
		return
	}
	sum := sha256.Sum256(req.Payload)
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.Key, crypto.SHA256, sum[:])
	if err != nil {
		s.refuse(w, http.StatusInternalServerError, "INTERNAL", err.Error())
		return
	}
	s.SignBlobs.Add(1)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"keyId": "0123456789abcdef", "signedBlob": sig})
}
