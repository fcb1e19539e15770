package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signgate/signgate/server/config"
)

// tlsCheckEvery bounds how often a handshake looks at the certificate
// files: a rotation (cert-manager, certbot) is served within this long.
const tlsCheckEvery = 5 * time.Second

// openListener opens the API listener of cfg: TCP, with TLS on top when
// server.tls is set. The TLS files are loaded before the port is bound, so
// that a bad file stops start-up with its field path, and SIGHUP reloads
// them through rl.
func openListener(cfg *config.Config, log *slog.Logger, rl *reloader, wrap func(net.Listener) net.Listener) (net.Listener, error) {
	var tf *tlsFiles
	if cfg.Server.TLS.Enabled() {
		var err error
		if tf, err = newTLSFiles(cfg.Server.TLS, tlsCheckEvery, time.Now, log.With("component", "tls")); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, err
	}
	if ln = wrap(ln); tf == nil { // the connection caps (transport.go)
		return ln, nil
	}
	rl.appliers = append(rl.appliers, reloadApplier{name: "tls", apply: func(*config.Config) error { return tf.reload() }})
	return tls.NewListener(ln, tf.serverConfig()), nil
}

// tlsFiles serves the certificate of cert_file and key_file and, for
// mutual TLS, the client CAs of client_ca_file. A handshake re-reads them
// when a file changed (its identity, size or modification time), looking
// at most once per every; reload re-reads them at once. A change that does
// not load (a half-written file, a key that does not match) keeps the
// running certificate and is logged; it is tried again at the next check.
type tlsFiles struct {
	paths config.TLS
	every time.Duration
	now   func() time.Time
	log   *slog.Logger

	cur atomic.Pointer[tls.Config] // what handshakes get

	mu      sync.Mutex // one check at a time
	checked time.Time
	seen    []os.FileInfo // of the files cur was loaded from
	lastErr string        // the last failure logged
}

func newTLSFiles(paths config.TLS, every time.Duration, now func() time.Time, log *slog.Logger) (*tlsFiles, error) {
	t := &tlsFiles{paths: paths, every: every, now: now, log: log}
	if err := t.reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// serverConfig is the listener's configuration: every handshake gets the
// current one from GetConfigForClient.
func (t *tlsFiles) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			t.refresh()
			return t.cur.Load(), nil
		},
	}
}

// refresh reloads the files when one changed, at most once per every.
func (t *tlsFiles) refresh() {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if now.Sub(t.checked) < t.every {
		return
	}
	t.checked = now
	if !t.changed() {
		return
	}
	if err := t.loadLocked(); err != nil {
		if msg := err.Error(); msg != t.lastErr {
			t.lastErr = msg
			t.log.Error("TLS certificate change not loaded; the running certificate stays", "err", msg)
		}
	}
}

// reload re-reads the files now (SIGHUP).
func (t *tlsFiles) reload() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.checked = t.now()
	return t.loadLocked()
}

func (t *tlsFiles) files() []string {
	f := []string{t.paths.CertFile, t.paths.KeyFile}
	if t.paths.ClientCAFile != "" {
		f = append(f, t.paths.ClientCAFile)
	}
	return f
}

// changed reports whether a file is not the one cur was loaded from.
func (t *tlsFiles) changed() bool {
	for i, path := range t.files() {
		info, err := os.Stat(path) // follows the symlinks of a Kubernetes secret volume
		if err != nil {
			return true // loading says why
		}
		old := t.seen[i]
		if !os.SameFile(old, info) || !old.ModTime().Equal(info.ModTime()) || old.Size() != info.Size() {
			return true
		}
	}
	return false
}

// loadLocked reads the files and swaps in a configuration built from them.
// The files are looked at before they are read: a change in between is
// caught by the next check.
func (t *tlsFiles) loadLocked() error {
	var seen []os.FileInfo
	for _, path := range t.files() {
		info, err := os.Stat(path)
		if err != nil {
			return err
		}
		seen = append(seen, info)
	}
	cert, err := tls.LoadX509KeyPair(t.paths.CertFile, t.paths.KeyFile)
	if err != nil {
		return fmt.Errorf("config: server.tls: cert_file %s and key_file %s: %w", t.paths.CertFile, t.paths.KeyFile, err)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
	}
	if t.paths.ClientCAFile != "" {
		pem, err := os.ReadFile(t.paths.ClientCAFile)
		if err != nil {
			return fmt.Errorf("config: server.tls.client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return errors.New("config: server.tls.client_ca_file: no PEM certificate in " + t.paths.ClientCAFile)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	t.cur.Store(cfg)
	t.seen, t.lastErr = seen, ""
	t.log.Info("TLS certificate loaded", "subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter,
		"client_certificates", map[bool]string{true: "required", false: "not asked"}[cfg.ClientCAs != nil])
	return nil
}
