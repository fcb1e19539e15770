package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
)

// GCS is a running fake-gcs-server behind a proxy that verifies every
// request's GOOG4-RSA-SHA256 query signature, as Google would, since
// fake-gcs-server itself accepts any signed URL without checking it.
type GCS struct {
	Endpoint       string // the verifying proxy (StartFakeGCS: the server itself): http://127.0.0.1:PORT
	Backend        string // fake-gcs-server itself, for set-up only
	ServiceAccount *ServiceAccount
	Process        *Process
	Proxy          *Proxy
	proxySrv       *httptest.Server
}

// StartGCS starts fake-gcs-server in memory and the verifying proxy in
// front of it. URLs signed by sa for Endpoint pass the proxy.
func StartGCS(ctx context.Context, sa *ServiceAccount) (*GCS, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	exe, err := findBinary(filepath.Join(bin, "fake-gcs-server"), "fake-gcs-server")
	if err != nil {
		return nil, err
	}

	// The proxy listens first: its address is fake-gcs-server's public host,
	// the Host under which fake-gcs-server serves the XML API (/bucket/key).
	proxy := &Proxy{Email: sa.Email, PublicKey: &sa.Key.PublicKey}
	proxySrv := httptest.NewServer(proxy)
	publicHost := strings.TrimPrefix(proxySrv.URL, "http://")

	argv := func(port int) []string {
		return []string{exe,
			"-scheme", "http", "-host", "127.0.0.1", "-port", fmt.Sprint(port),
			"-public-host", publicHost, "-external-url", proxySrv.URL,
			"-backend", "memory", "-log-level", "error"}
	}
	ready := func(ctx context.Context, port int) error {
		return wantStatus(ctx, "http://"+hostPort(port)+"/_internal/healthcheck", 200)
	}
	p, port, err := StartServer(ctx, "fake-gcs-server", "", nil, argv, ready)
	if err != nil {
		proxySrv.Close()
		return nil, err
	}
	backend, _ := url.Parse("http://" + hostPort(port))
	proxy.setBackend(backend)
	return &GCS{
		Endpoint:       proxySrv.URL,
		Backend:        backend.String(),
		ServiceAccount: sa,
		Process:        p,
		Proxy:          proxy,
		proxySrv:       proxySrv,
	}, nil
}

// StartFakeGCS starts fake-gcs-server in memory on port (0: a free one),
// serving the XML API of signed URLs under its own address. Nothing checks
// signatures: this is the local dev stack's GCS, not the tests'.
func StartFakeGCS(ctx context.Context, port int) (*GCS, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	exe, err := findBinary(filepath.Join(bin, "fake-gcs-server"), "fake-gcs-server")
	if err != nil {
		return nil, err
	}
	argv := func(port int) []string {
		// The public host is fake-gcs-server's own address: a signed URL's
		// Host, under which it serves /bucket/key.
		return []string{exe,
			"-scheme", "http", "-host", "127.0.0.1", "-port", fmt.Sprint(port),
			"-public-host", hostPort(port), "-external-url", "http://" + hostPort(port),
			"-backend", "memory", "-log-level", "error"}
	}
	ready := func(ctx context.Context, port int) error {
		return wantStatus(ctx, "http://"+hostPort(port)+"/_internal/healthcheck", 200)
	}
	p, port, err := StartServerAt(ctx, "fake-gcs-server", "", nil, port, argv, ready)
	if err != nil {
		return nil, err
	}
	endpoint := "http://" + hostPort(port)
	return &GCS{Endpoint: endpoint, Backend: endpoint, Process: p}, nil
}

// CreateBucket creates a bucket through fake-gcs-server's JSON API,
// bypassing the proxy (set-up needs no signed URL).
func (g *GCS) CreateBucket(ctx context.Context, name string) error {
	body, _ := json.Marshal(map[string]string{"name": name})
	return g.backendCall(ctx, http.MethodPost, "/storage/v1/b?project=signgate-test", "application/json", body)
}

// PutObject stores an object directly in fake-gcs-server (set-up only).
func (g *GCS) PutObject(ctx context.Context, bucket, key string, data []byte) error {
	path := "/upload/storage/v1/b/" + url.PathEscape(bucket) + "/o?uploadType=media&name=" + url.QueryEscape(key)
	return g.backendCall(ctx, http.MethodPost, path, "application/octet-stream", data)
}

// GetObject reads an object directly from fake-gcs-server (checks only).
// It returns found=false on 404.
func (g *GCS) GetObject(ctx context.Context, bucket, key string) (data []byte, found bool, err error) {
	u := g.Backend + "/storage/v1/b/" + url.PathEscape(bucket) + "/o/" + url.PathEscape(key) + "?alt=media"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	data, err = io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return nil, false, err
	case resp.StatusCode == http.StatusNotFound:
		return nil, false, nil
	case resp.StatusCode != http.StatusOK:
		return nil, false, fmt.Errorf("gcs: get %s/%s: status %d: %s", bucket, key, resp.StatusCode, data)
	}
	return data, true, nil
}

func (g *GCS) backendCall(ctx context.Context, method, path, contentType string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, method, g.Backend+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("gcs: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("gcs: %s %s: status %d: %s", method, path, resp.StatusCode, msg)
	}
	return nil
}

// Stop ends fake-gcs-server and the proxy, if any.
func (g *GCS) Stop() {
	if g.proxySrv != nil {
		g.proxySrv.Close()
	}
	g.Process.Stop()
}

// ServiceAccount is a generated Google service account: its email, RSA key
// and the key file JSON that signgate reads.
type ServiceAccount struct {
	Email string
	Key   *rsa.PrivateKey
	JSON  []byte
}

// NewServiceAccount makes an RSA-2048 service account key for email. The
// test generates it so that nothing about the key comes from the signer.
func NewServiceAccount(email string) (*ServiceAccount, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	var id [20]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	project := "signgate-test"
	if at := strings.IndexByte(email, '@'); at >= 0 {
		if p, _, ok := strings.Cut(email[at+1:], "."); ok {
			project = p
		}
	}
	doc, err := json.MarshalIndent(map[string]string{
		"type":           "service_account",
		"project_id":     project,
		"private_key_id": hex.EncodeToString(id[:]),
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   email,
		"client_id":      "100000000000000000000",
		"auth_uri":       "https://accounts.google.com/o/oauth2/auth",
		"token_uri":      "https://oauth2.googleapis.com/token",
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	return &ServiceAccount{Email: email, Key: key, JSON: doc}, nil
}
