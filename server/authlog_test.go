package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/server/config"
)

// syncBuf is a log destination that handlers may write concurrently.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// logLines decodes JSON log lines.
func logLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// TestRefusedCredentialsAreExplainedAtDebug checks what docs/identity.md
// promises: a 401 says nothing, and the debug log says why, with the
// request id and without any part of the credential.
func TestRefusedCredentialsAreExplainedAtDebug(t *testing.T) {
	k := testKeys()
	idp := newFakeIdP(t, standardJWKS(t)...)
	clk := newTestClock()
	sum := sha256.Sum256([]byte("bob-key"))
	keys, err := NewAPIKeys([]config.APIKey{{SHA256: hex.EncodeToString(sum[:]), Subject: "bob"}})
	must(t, err)
	auth := Chain(keys, newTestJWT(t, testOIDC(idp.srv.URL), clk, idp))
	good := mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(nil))

	tests := []struct {
		name       string
		givenAuth  string
		wantReason string
	}{
		{"no header", "", "no authorization header"},
		{"another scheme", "Basic Ym9iOmtleQ==", "not a bearer credential"},
		{"an empty bearer", "Bearer   ", "not a bearer credential"},
		{"an unknown API key", "Bearer not-bobs-key-at-all", "api key: unknown key; jwt: not a jwt"},
		{"an expired token", "Bearer " + mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(map[string]any{
			"exp": jwtEpoch.Add(-time.Hour).Unix(), "iat": jwtEpoch.Add(-2 * time.Hour).Unix()})), "api key: unknown key; jwt: expired"},
		{"a token for another audience", "Bearer " + mint(t, jwa.RS256(), k.rsa, "rsa-1", claimsWith(map[string]any{"aud": "other"})), "api key: unknown key; jwt: wrong audience"},
		{"a token with an unknown kid", "Bearer " + mint(t, jwa.RS256(), k.rsaNext, "nope", claimsWith(nil)), "api key: unknown key; jwt: unknown kid"},
		{"a tampered token", "Bearer " + tamper(t, good), "api key: unknown key; jwt: bad signature"},
	}
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		var logs syncBuf
		e := New(authz.New(), nil, auth, WithClock(clk.now),
			WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: level}))))
		for i, tt := range tests {
			t.Run(level.String()+"/"+tt.name, func(t *testing.T) {
				req := httptest.NewRequest(http.MethodPost, "/v1/decide", strings.NewReader(`{}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(echo.HeaderXRequestID, "req-"+level.String()+"-"+string(rune('a'+i)))
				if tt.givenAuth != "" {
					req.Header.Set("Authorization", tt.givenAuth)
				}
				rr := httptest.NewRecorder()
				e.ServeHTTP(rr, req)
				if rr.Code != http.StatusUnauthorized {
					t.Fatalf("status %d, want 401", rr.Code)
				}
				var found []string
				for _, l := range logLines(t, logs.String()) {
					if l["msg"] == "credential refused" && l["request_id"] == req.Header.Get(echo.HeaderXRequestID) {
						found = append(found, l["reason"].(string))
					}
				}
				switch {
				case level == slog.LevelInfo && len(found) != 0:
					t.Fatalf("info level logged a refusal: %v", found)
				case level == slog.LevelDebug && (len(found) != 1 || found[0] != tt.wantReason):
					t.Fatalf("refusals logged for this request: %q, want exactly %q", found, tt.wantReason)
				}
			})
		}
		t.Run(level.String()+"/never logs a credential", func(t *testing.T) {
			for _, tt := range tests {
				_, cred, _ := strings.Cut(tt.givenAuth, " ")
				for seg := range strings.SplitSeq(cred, ".") {
					if len(seg) > 8 && strings.Contains(logs.String(), seg) {
						t.Fatalf("%s: the log holds part of the credential", tt.name)
					}
				}
			}
		})
	}
}

// TestEchoLogsGoToTheLogNotStdout runs a handler that panics, and Echo's
// own loggers, with stdout replaced by a pipe: everything must reach the
// configured log and nothing stdout, where decision records go.
func TestEchoLogsGoToTheLogNotStdout(t *testing.T) {
	r, w, err := os.Pipe()
	must(t, err)
	stdout := os.Stdout
	os.Stdout = w // before New: Echo's default logger binds stdout when it is made
	defer func() { os.Stdout = stdout }()

	var logs syncBuf
	e := New(authz.New(), nil, Chain(), WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	e.GET("/boom", func(echo.Context) error { panic("handler bug") })
	req := httptest.NewRequest(http.MethodGet, "/boom", nil)
	req.Header.Set(echo.HeaderXRequestID, "req-panic")
	rr := httptest.NewRecorder()
	e.ServeHTTP(rr, req)
	e.Logger.Error("echo logger line")
	e.StdLogger.Print("http server line")

	os.Stdout = stdout
	w.Close()
	leaked, _ := io.ReadAll(r)
	if len(leaked) != 0 {
		t.Fatalf("stdout got %q", leaked)
	}
	if rr.Code != http.StatusInternalServerError || strings.Contains(rr.Body.String(), "handler bug") || strings.Contains(rr.Body.String(), "goroutine") {
		t.Fatalf("answer %d %s: want a 500 that shows neither the panic nor the stack", rr.Code, rr.Body)
	}
	var panicked, echoLine, stdLine bool
	for _, l := range logLines(t, logs.String()) {
		msg, _ := l["msg"].(string)
		switch {
		case msg == "panic recovered":
			panicked = l["request_id"] == "req-panic" && strings.Contains(l["err"].(string), "handler bug") && strings.Contains(l["stack"].(string), "goroutine")
		case strings.Contains(msg, "echo logger line"):
			echoLine = l["level"] == "ERROR" && l["component"] == "http"
		case strings.Contains(msg, "http server line"):
			stdLine = l["level"] == "WARN" && l["component"] == "http"
		}
	}
	if !panicked || !echoLine || !stdLine {
		t.Fatalf("panic logged %v, echo logger %v, http server log %v; log:\n%s", panicked, echoLine, stdLine, logs.String())
	}
}
