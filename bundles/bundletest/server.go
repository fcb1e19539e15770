package bundletest

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is an OPA bundle service on 127.0.0.1 that serves one bundle at
// a time. It speaks the bundle service API as OPA's downloader expects it:
// ETags with 304 Not Modified, and long polling (a request that carries
// the current ETag and "Prefer: wait=N" is held until the bundle changes or
// N seconds pass).
type Server struct {
	*httptest.Server
	Path string // the bundle's resource path, "/bundles/signgate.tar.gz"

	mu      sync.Mutex
	body    []byte
	etag    string
	changed chan struct{} // closed and replaced on every Serve
	serial  int
	closing chan struct{}
}

// NewServer starts a server with no bundle yet (404 until Serve).
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{Path: "/bundles/signgate.tar.gz", changed: make(chan struct{}), closing: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(func() {
		close(s.closing) // release held long polls, or Close waits for them
		s.Close()
	})
	return s
}

// Serve makes body the bundle, with a new ETag, and wakes held long polls.
func (s *Server) Serve(body []byte) {
	sum := sha256.Sum256(body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.serial++
	s.body = body
	s.etag = `"` + strconv.Itoa(s.serial) + `-` + hex.EncodeToString(sum[:8]) + `"`
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != s.Path {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	body, etag, changed := s.body, s.etag, s.changed
	s.mu.Unlock()

	wait := longPollWait(r.Header.Get("Prefer"))
	if body != nil && wait > 0 && matches(r.Header.Get("If-None-Match"), etag) {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case <-changed:
			s.mu.Lock()
			body, etag = s.body, s.etag
			s.mu.Unlock()
		case <-timer.C:
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		}
	}
	if body == nil {
		http.NotFound(w, r)
		return
	}
	if wait > 0 {
		// This content type tells OPA's downloader that long polling works.
		w.Header().Set("Content-Type", "application/vnd.openpolicyagent.bundles")
	} else {
		w.Header().Set("Content-Type", "application/gzip")
	}
	w.Header().Set("ETag", etag)
	if matches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(body)
}

// longPollWait reads "wait=N" from a Prefer header such as
// "modes=snapshot,delta;wait=30".
func longPollWait(prefer string) time.Duration {
	for _, part := range strings.Split(prefer, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "wait="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	return 0
}

func matches(ifNoneMatch, etag string) bool {
	if etag == "" {
		return false
	}
	for _, e := range strings.Split(ifNoneMatch, ",") {
		if strings.TrimSpace(e) == etag {
			return true
		}
	}
	return false
}
