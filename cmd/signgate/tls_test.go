package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signgate/signgate/server/config"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{key: key, cert: cert, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// issue makes a leaf for 127.0.0.1 (a server) or for a client, with serial
// as the mark a test looks for, and returns its PEM certificate and key.
func (ca *testCA) issue(t *testing.T, serial int64, client bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: fmt.Sprintf("leaf %d", serial)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	if client {
		tmpl.ExtKeyUsage, tmpl.IPAddresses = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
}

// writePair writes a certificate and key as cert-manager does: new files
// renamed over the old ones, the key first.
func writePair(t *testing.T, certFile, keyFile string, certPEM, keyPEM []byte) {
	t.Helper()
	replaceFile(t, keyFile, keyPEM)
	replaceFile(t, certFile, certPEM)
}

func replaceFile(t *testing.T, path string, body []byte) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", body, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// tlsClient connects with a fresh connection per request, trusting roots
// and presenting the client certificate, if any.
func tlsClient(roots *x509.CertPool, clientCert *tls.Certificate, maxVersion uint16) *http.Client {
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: maxVersion}
	if clientCert != nil {
		// Sent whatever CAs the server names, so that the server's own
		// verification is what refuses a certificate of another CA.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return clientCert, nil }
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: cfg, DisableKeepAlives: true, ForceAttemptHTTP2: true,
	}}
}

// servedSerial returns the serial of the certificate a new connection to
// url is served, or the request's error.
func servedSerial(c *http.Client, url string) (int64, int, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 {
		return 0, resp.ProtoMajor, fmt.Errorf("status %d", resp.StatusCode)
	}
	return resp.TLS.PeerCertificates[0].SerialNumber.Int64(), resp.ProtoMajor, nil
}

// TestTLSFilesFollowTheirFiles serves with the loader behind a listener,
// with a clock the test moves, and replaces the certificate files.
func TestTLSFilesFollowTheirFiles(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "test CA")
	paths := config.TLS{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key")}
	c1, k1 := ca.issue(t, 101, false)
	writePair(t, paths.CertFile, paths.KeyFile, c1, k1)

	var mu sync.Mutex
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	var logs syncBuffer
	tf, err := newTLSFiles(paths, 5*time.Second, clock, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}), ReadHeaderTimeout: 5 * time.Second, ErrorLog: stdlog.New(io.Discard, "", 0)}
	go func() { _ = srv.Serve(tls.NewListener(ln, tf.serverConfig())) }()
	t.Cleanup(func() { _ = srv.Close() })
	url := "https://" + ln.Addr().String() + "/"
	client := tlsClient(ca.pool(), nil, 0)

	serial := func(want int64, when string) {
		t.Helper()
		got, proto, err := servedSerial(client, url)
		if err != nil || got != want {
			t.Fatalf("%s: served serial %d (%v), want %d", when, got, err, want)
		}
		if proto != 2 {
			t.Errorf("%s: HTTP/%d, want HTTP/2 over TLS", when, proto)
		}
	}
	serial(101, "at start")

	c2, k2 := ca.issue(t, 102, false)
	writePair(t, paths.CertFile, paths.KeyFile, c2, k2)
	serial(101, "within the check interval")
	advance(6 * time.Second)
	serial(102, "after a rotation")

	// A key that does not match its certificate keeps the running pair.
	_, k3 := ca.issue(t, 103, false)
	writePair(t, paths.CertFile, paths.KeyFile, c2, k3)
	advance(6 * time.Second)
	serial(102, "after a broken rotation")
	if !strings.Contains(logs.String(), "TLS certificate change not loaded; the running certificate stays") {
		t.Errorf("a broken rotation was not logged:\n%s", logs.String())
	}
	if err := tf.reload(); err == nil || !strings.Contains(err.Error(), "server.tls") {
		t.Errorf("reload of a mismatched pair: %v, want an error naming server.tls", err)
	}
	c4, k4 := ca.issue(t, 104, false)
	writePair(t, paths.CertFile, paths.KeyFile, c4, k4)
	if err := tf.reload(); err != nil { // SIGHUP: at once, whatever the clock says
		t.Fatal(err)
	}
	serial(104, "after a reload")

	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		if _, _, err := servedSerial(tlsClient(ca.pool(), nil, v), url); err == nil {
			t.Errorf("a client limited to %s was served", tls.VersionName(v))
		}
	}
}

// TestServeTLS runs `serve` with mutual TLS: a client with a certificate
// from the client CA gets answers, any other is refused in the handshake,
// TLS below 1.2 is refused, and SIGHUP serves a replaced certificate.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	serverCA, clientCA, otherCA := newTestCA(t, "server CA"), newTestCA(t, "client CA"), newTestCA(t, "other CA")
	certFile, keyFile, caFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.crt")
	c1, k1 := serverCA.issue(t, 201, false)
	writePair(t, certFile, keyFile, c1, k1)
	if err := os.WriteFile(caFile, clientCA.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	const key = "tls-test-key"
	sum := sha256.Sum256([]byte(key))
	cfgFile := filepath.Join(dir, "signgate.yaml")
	cfg := fmt.Sprintf(`
listen: 127.0.0.1:0
server:
  tls: {cert_file: %q, key_file: %q, client_ca_file: %q}
auth:
  api_keys: [{sha256: %q, subject: ops, teams: [vision]}]
connectors:
  vision-s3: {provider: s3, bucket: acme-vision, region: us-east-1, endpoint: "http://127.0.0.1:9",
              credentials: {access_key_id_env: SERVE_TEST_AK, secret_access_key_env: SERVE_TEST_SK}}
%s
audit: {sink: none}
`, certFile, keyFile, caFile, hex.EncodeToString(sum[:]), otherExampleConnectors(t))
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SERVE_TEST_AK", "AKIDSERVETEST")
	t.Setenv("SERVE_TEST_SK", "serve-test-secret")
	srv := startServe(t, "--config", cfgFile)
	url := "https://" + srv.addr + "/healthz"

	pair := func(ca *testCA, serial int64) *tls.Certificate {
		c, k := ca.issue(t, serial, true)
		cert, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return &cert
	}
	good := tlsClient(serverCA.pool(), pair(clientCA, 301), 0)
	if got, _, err := servedSerial(good, url); err != nil || got != 201 {
		t.Fatalf("a client with a certificate of the client CA: serial %d, %v; want 200 and the test's certificate 201", got, err)
	}
	sign := &client{t: t, base: "https://" + srv.addr, http: good}
	sign.sign(key, 200)

	for name, c := range map[string]*http.Client{
		"no client certificate":                 tlsClient(serverCA.pool(), nil, 0),
		"a client certificate of another CA":    tlsClient(serverCA.pool(), pair(otherCA, 302), 0),
		"a client limited to TLS 1.1":           tlsClient(serverCA.pool(), pair(clientCA, 303), tls.VersionTLS11),
		"a client that does not trust the cert": tlsClient(x509.NewCertPool(), pair(clientCA, 304), 0),
	} {
		if _, _, err := servedSerial(c, url); err == nil {
			t.Errorf("%s was served", name)
		}
	}
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + srv.addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP was served on the TLS listener")
		}
	}

	if out := srv.stdout.String(); out != "" {
		t.Errorf("stdout, where the console sink writes records, got %q", out)
	}
	waitFor(t, "the refused handshakes in the log", func() bool { return srv.logs.findPrefix("http: TLS handshake error") != nil })

	c2, k2 := serverCA.issue(t, 202, false)
	writePair(t, certFile, keyFile, c2, k2)
	mark := srv.logs.mark()
	sighup(t)
	got := srv.logs.waitMsg(t, mark, "configuration reloaded", "configuration reloaded in part")
	if fmt.Sprint(got["applied"]) != "[auth log level tls]" {
		t.Errorf("reload: %v, want auth and tls applied", got)
	}
	if got, _, err := servedSerial(good, url); err != nil || got != 202 {
		t.Errorf("after SIGHUP: serial %d, %v; want the replaced certificate 202", got, err)
	}
}

func TestServeRefusesBadTLSFiles(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "test CA")
	c1, k1 := ca.issue(t, 1, false)
	_, k2 := ca.issue(t, 2, false)
	certFile, keyFile, otherKey := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "other.key")
	writePair(t, certFile, keyFile, c1, k1)
	if err := os.WriteFile(otherKey, k2, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		givenTLS string
		wantErr  string
	}{
		{name: "a key that is not the certificate's", givenTLS: fmt.Sprintf("{cert_file: %q, key_file: %q}", certFile, otherKey),
			wantErr: "server.tls: cert_file"},
		{name: "a missing file", givenTLS: fmt.Sprintf("{cert_file: %q, key_file: %q}", certFile, filepath.Join(dir, "nope.key")),
			wantErr: "config: server.tls.key_file: open "},
		{name: "a certificate without its key", givenTLS: fmt.Sprintf("{cert_file: %q}", certFile),
			wantErr: "config: server.tls.key_file: required with cert_file"},
		{name: "a client CA that holds no certificate", givenTLS: fmt.Sprintf("{cert_file: %q, key_file: %q, client_ca_file: %q}", certFile, keyFile, keyFile),
			wantErr: "config: server.tls.client_ca_file: no PEM certificate"},
	}
	t.Setenv("SERVE_TEST_AK", "AKIDSERVETEST")
	t.Setenv("SERVE_TEST_SK", "serve-test-secret")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfgFile := filepath.Join(t.TempDir(), "signgate.yaml")
			cfg := fmt.Sprintf(`
listen: 127.0.0.1:0
server: {tls: %s}
auth: {api_keys: [{sha256: %q, subject: ops}]}
connectors:
  vision-s3: {provider: s3, bucket: acme-vision, region: us-east-1,
              credentials: {access_key_id_env: SERVE_TEST_AK, secret_access_key_env: SERVE_TEST_SK}}
%s
audit: {sink: none}
`, tt.givenTLS, strings.Repeat("a", 64), otherExampleConnectors(t))
			if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			err := run(t.Context(), []string{"serve", "--config", cfgFile}, nil, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("serve: %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}

// TestTLSFilesFollowTheClientCA replaces the client CA file: clients of the
// new CA are accepted at the next check, those of the old one refused.
func TestTLSFilesFollowTheClientCA(t *testing.T) {
	dir := t.TempDir()
	serverCA, oldCA, newCA := newTestCA(t, "server CA"), newTestCA(t, "old client CA"), newTestCA(t, "new client CA")
	paths := config.TLS{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"), ClientCAFile: filepath.Join(dir, "ca.crt")}
	c, k := serverCA.issue(t, 1, false)
	writePair(t, paths.CertFile, paths.KeyFile, c, k)
	replaceFile(t, paths.ClientCAFile, oldCA.pem)

	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	tf, err := newTLSFiles(paths, 5*time.Second, clock, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), ReadHeaderTimeout: 5 * time.Second, ErrorLog: stdlog.New(io.Discard, "", 0)}
	go func() { _ = srv.Serve(tls.NewListener(ln, tf.serverConfig())) }()
	t.Cleanup(func() { _ = srv.Close() })
	url := "https://" + ln.Addr().String() + "/"
	clientOf := func(ca *testCA) *http.Client {
		c, k := ca.issue(t, 9, true)
		cert, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return tlsClient(serverCA.pool(), &cert, 0)
	}
	oldClient, newClient := clientOf(oldCA), clientOf(newCA)
	if _, _, err := servedSerial(oldClient, url); err != nil {
		t.Fatalf("a client of the configured CA: %v", err)
	}
	if _, _, err := servedSerial(newClient, url); err == nil {
		t.Fatal("a client of a CA not yet configured was served")
	}
	replaceFile(t, paths.ClientCAFile, newCA.pem)
	mu.Lock()
	now = now.Add(6 * time.Second)
	mu.Unlock()
	if _, _, err := servedSerial(newClient, url); err != nil {
		t.Errorf("a client of the new CA after the CA file changed: %v", err)
	}
	if _, _, err := servedSerial(oldClient, url); err == nil {
		t.Error("a client of the removed CA was served")
	}
}
