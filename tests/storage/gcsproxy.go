package storage

import (
	"crypto/rsa"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signgate/signgate/signer/gcs/gcsverify"
)

// Proxy stands where storage.googleapis.com would: it refuses, with 403 and
// an XML error, every request whose GOOG4-RSA-SHA256 query signature does
// not verify with the service account's public key at the current time,
// and forwards the rest, with their Host unchanged, to fake-gcs-server.
type Proxy struct {
	Email     string
	PublicKey *rsa.PublicKey
	Now       func() time.Time // nil: time.Now

	mu       sync.Mutex
	backend  *httputil.ReverseProxy
	sessions sync.Map     // upload_id -> *session, opened by a verified start
	Passed   atomic.Int64 // requests forwarded
	Refused  atomic.Int64 // requests answered 403
	lastDeny atomic.Value // string: why the last refusal happened
}

func (p *Proxy) setBackend(target *url.URL) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.backend = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			// fake-gcs-server serves the XML API only for its public host,
			// which is the proxy's own address.
			r.Out.Host = r.In.Host
			// fake-gcs-server loses the object name of an XML API
			// resumable start (POST /bucket/object, x-goog-resumable:
			// start); its JSON API form of the same start keeps it.
			if r.In.Method == http.MethodPost && r.In.Header.Get("x-goog-resumable") == "start" {
				if bucket, object, ok := strings.Cut(strings.TrimPrefix(r.In.URL.Path, "/"), "/"); ok {
					r.Out.URL.Path, r.Out.URL.RawPath = "/upload/storage/v1/b/"+bucket+"/o", ""
					r.Out.URL.RawQuery = url.Values{"uploadType": {"resumable"}, "name": {object}}.Encode()
				}
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			p.noteChunk(resp)
			// A resumable session URI is its own credential, as on GCS:
			// the proxy lets through the sessions it saw opened.
			if loc, err := url.Parse(resp.Header.Get("Location")); err == nil {
				if id := loc.Query().Get("upload_id"); id != "" {
					p.sessions.Store(id, &session{})
				}
			}
			return nil
		},
	}
}

// LastRefusal says why the last refused request was refused.
func (p *Proxy) LastRefusal() string {
	s, _ := p.lastDeny.Load().(string)
	return s
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.answerStatus(w, r) {
		return
	}
	if err := p.verify(r); err != nil {
		p.Refused.Add(1)
		p.lastDeny.Store(fmt.Sprintf("%s %s: %v", r.Method, r.URL.Path, err))
		writeXMLError(w, err)
		return
	}
	p.mu.Lock()
	backend := p.backend
	p.mu.Unlock()
	if backend == nil {
		http.Error(w, "backend not started", http.StatusServiceUnavailable)
		return
	}
	p.Passed.Add(1)
	backend.ServeHTTP(w, r)
}

// denial is a refusal with GCS's XML error code.
type denial struct {
	Code    string
	Message string
}

func (d *denial) Error() string { return d.Code + ": " + d.Message }

func deny(code, format string, args ...any) error {
	return &denial{Code: code, Message: fmt.Sprintf(format, args...)}
}

// verify checks r's signature with gcsverify (method, path, query, signed
// headers, validity window) and that the signer is the service account.
func (p *Proxy) verify(r *http.Request) error {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	if id := r.URL.Query().Get("upload_id"); id != "" && r.URL.Query().Get("X-Goog-Signature") == "" {
		if _, ok := p.sessions.Load(id); ok {
			return nil
		}
		return deny("AccessDenied", "no such resumable session")
	}
	if r.URL.Query().Get("X-Goog-Signature") == "" {
		return deny("AccessDenied", "anonymous caller does not have storage.objects access")
	}
	signed, err := gcsverify.Verify(gcsverify.FromHTTP(r), p.PublicKey, now())
	switch {
	case errors.Is(err, gcsverify.ErrExpired), errors.Is(err, gcsverify.ErrNotYetValid):
		return deny("ExpiredToken", "%v", err)
	case errors.Is(err, gcsverify.ErrBadSignature), errors.Is(err, gcsverify.ErrMissingHeader):
		return deny("SignatureDoesNotMatch", "%v", err)
	case err != nil:
		return deny("InvalidArgument", "%v", err)
	case signed.AccessID != p.Email:
		// Unreachable with one key pair, but a proxy that trusts one account
		// says so.
		return deny("AccessDenied", "signed by %q, not %q", signed.AccessID, p.Email)
	}
	return nil
}

func writeXMLError(w http.ResponseWriter, err error) {
	d, ok := err.(*denial)
	if !ok {
		d = &denial{Code: "AccessDenied", Message: err.Error()}
	}
	body, _ := xml.Marshal(struct {
		XMLName xml.Name `xml:"Error"`
		Code    string   `xml:"Code"`
		Message string   `xml:"Message"`
	}{Code: d.Code, Message: d.Message})
	w.Header().Set("Content-Type", "application/xml; charset=UTF-8")
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(body)
}

// session is what the proxy saw of a resumable session's chunks.
type session struct {
	mu        sync.Mutex
	committed int64 // bytes GCS holds, from the last 308's Range
	complete  bool
}

// noteChunk records how far a session got from the backend's answer to a
// chunk.
func (p *Proxy) noteChunk(resp *http.Response) {
	v, ok := p.sessions.Load(resp.Request.URL.Query().Get("upload_id"))
	if !ok || resp.Request.Method != http.MethodPut {
		return
	}
	s := v.(*session)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case resp.StatusCode == http.StatusPermanentRedirect:
		var last int64
		if _, err := fmt.Sscanf(resp.Header.Get("Range"), "bytes=0-%d", &last); err == nil {
			s.committed = last + 1
		}
	case resp.StatusCode/100 == 2:
		s.complete = true
	}
}

// answerStatus answers a session's status query (Content-Range: bytes */N)
// as GCS does, from what the proxy saw: fake-gcs-server takes the query for
// a last, empty chunk and finishes the object (fake-gcs-server issue #1149).
func (p *Proxy) answerStatus(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPut || !strings.HasPrefix(r.Header.Get("Content-Range"), "bytes */") {
		return false
	}
	v, ok := p.sessions.Load(r.URL.Query().Get("upload_id"))
	if !ok {
		return false
	}
	s := v.(*session)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.complete {
		w.WriteHeader(http.StatusOK)
		return true
	}
	if s.committed > 0 {
		w.Header().Set("Range", fmt.Sprintf("bytes=0-%d", s.committed-1))
	}
	w.WriteHeader(http.StatusPermanentRedirect)
	return true
}
