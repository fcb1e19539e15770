// Package stsfake stands in for AWS STS's AssumeRole, for tests: it
// speaks the query protocol (POST form Action=AssumeRole&Version=2011-06-15)
// and answers with the XML that STS returns, issuing the credentials it is
// given with a session token and an expiry. No open-source STS is at hand.
package stsfake

import (
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is a running stand-in; Close stops it.
type Server struct {
	URL string

	// AccessKeyID and SecretAccessKey are what each session gets (e.g. a
	// versitygw account, so that its URLs can be used).
	AccessKeyID, SecretAccessKey string
	// SessionToken, when set, is every session's token; otherwise each
	// session gets a new one.
	SessionToken string
	// Lifetime, when set, overrides the DurationSeconds asked for.
	Lifetime time.Duration
	// Now is the clock expiries are computed from; nil means time.Now.
	Now func() time.Time

	Calls  atomic.Int64
	deny   atomic.Bool
	mu     sync.Mutex
	last   url.Values
	auth   string
	srv    *httptest.Server
	issued int
}

// Start serves AssumeRole on 127.0.0.1.
func Start(accessKeyID, secret string) *Server {
	s := &Server{AccessKeyID: accessKeyID, SecretAccessKey: secret}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Deny makes AssumeRole answer 403 AccessDenied from now on, or not.
func (s *Server) Deny(v bool) { s.deny.Store(v) }

// Last is the form of the last AssumeRole call and its Authorization header.
func (s *Server) Last() (url.Values, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.auth
}

type stsError struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Type    string   `xml:"Error>Type"`
	Code    string   `xml:"Error>Code"`
	Message string   `xml:"Error>Message"`
}

func fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	_ = xml.NewEncoder(w).Encode(stsError{Type: "Sender", Code: code, Message: msg})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		fail(w, http.StatusBadRequest, "InvalidRequest", "want a POSTed form")
		return
	}
	f := r.PostForm
	s.mu.Lock()
	s.last, s.auth = f, r.Header.Get("Authorization")
	s.mu.Unlock()
	switch {
	case f.Get("Action") != "AssumeRole" || f.Get("Version") != "2011-06-15":
		fail(w, http.StatusBadRequest, "InvalidAction", "only AssumeRole 2011-06-15")
		return
	case !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential="):
		fail(w, http.StatusForbidden, "MissingAuthenticationToken", "request is not SigV4-signed")
		return
	case f.Get("RoleArn") == "" || f.Get("RoleSessionName") == "":
		fail(w, http.StatusBadRequest, "ValidationError", "RoleArn and RoleSessionName are required")
		return
	case s.deny.Load():
		fail(w, http.StatusForbidden, "AccessDenied", "User is not authorized to perform: sts:AssumeRole on resource: "+f.Get("RoleArn"))
		return
	}
	s.Calls.Add(1)
	life := time.Hour
	if d, err := strconv.Atoi(f.Get("DurationSeconds")); err == nil {
		life = time.Duration(d) * time.Second
	}
	if s.Lifetime > 0 {
		life = s.Lifetime
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	s.mu.Lock()
	s.issued++
	n := s.issued
	s.mu.Unlock()
	token := "FwoGZXIvYXdzEXAMPLE" + strconv.Itoa(n)
	if s.SessionToken != "" {
		token = s.SessionToken
	}
	w.Header().Set("Content-Type", "text/xml")
	_, _ = w.Write([]byte(`<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>` +
		`<AssumedRoleUser><AssumedRoleId>AROA3XFRBF535PLBIFPI4:` + f.Get("RoleSessionName") + `</AssumedRoleId>` +
		`<Arn>` + f.Get("RoleArn") + `/` + f.Get("RoleSessionName") + `</Arn></AssumedRoleUser>` +
		`<Credentials><AccessKeyId>` + s.AccessKeyID + `</AccessKeyId><SecretAccessKey>` + s.SecretAccessKey + `</SecretAccessKey>` +
		`<SessionToken>` + token + `</SessionToken>` +
		`<Expiration>` + now().Add(life).UTC().Format(time.RFC3339) + `</Expiration></Credentials>` +
		`</AssumeRoleResult><ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata></AssumeRoleResponse>`))
}
