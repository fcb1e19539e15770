package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/gcs"
)

// servers are started once for the package by TestMain.
var servers *Servers

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if _, err := Required(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "signgate-storage-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	sa, err := NewServiceAccount("signgate-test@signgate-test.iam.gserviceaccount.com")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	servers = StartAll(ctx, Config{Dir: dir, S3AccessKey: "storagetest", S3SecretKey: "storagetest-secret", ServiceAccount: sa})
	defer servers.Stop()
	for _, err := range []error{servers.S3Err, servers.AzureErr, servers.GCSErr} {
		if IsNotInstalled(err) {
			fmt.Fprintf(os.Stderr, "\n*** %v ***\n\n", err)
		}
	}
	return m.Run()
}

// need skips (loudly) when a server is not installed and fails when it is
// installed but did not start.
func need(t *testing.T, err error) {
	t.Helper()
	for _, path := range Binaries() {
		if f, err := os.Open(path); err == nil { // for go test's cache
			f.Close()
		}
	}
	switch {
	case IsNotInstalled(err):
		SkipOrFail(t, err.Error())
	case err != nil:
		t.Fatal(err)
	}
}

// bucketName is unique to the test's run, so that -count=N works against
// servers that live for the whole package.
func bucketName(t *testing.T, base string) string {
	return fmt.Sprintf("%s-%x", base, randomBytes(t, 4))
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestS3StoresAndReturnsAnObject(t *testing.T) {
	need(t, servers.S3Err)
	bucket := bucketName(t, "roundtrip")
	ctx := t.Context()
	srv := servers.S3
	if err := srv.CreateBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	want := randomBytes(t, 4096)
	if _, err := srv.Client().PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("a/b/object.bin"), Body: bytes.NewReader(want),
	}); err != nil {
		t.Fatal(err)
	}
	out, err := srv.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("a/b/object.bin")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	got, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want the %d written", len(got), len(want))
	}
}

func TestS3RefusesAnUnsignedRequest(t *testing.T) {
	need(t, servers.S3Err)
	bucket := bucketName(t, "private")
	ctx := t.Context()
	if err := servers.S3.CreateBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	resp := do(t, http.MethodGet, servers.S3.Endpoint+"/"+bucket+"/x", nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("unsigned GET: status %d, want 403", resp.StatusCode)
	}
}

func TestAzureStoresAndReturnsABlob(t *testing.T) {
	need(t, servers.AzureErr)
	bucket := bucketName(t, "roundtrip")
	ctx := t.Context()
	srv := servers.Azure
	if err := srv.CreateContainer(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	want := randomBytes(t, 4096)
	if _, err := srv.Client().UploadBuffer(ctx, bucket, "a/b/blob.bin", want, nil); err != nil {
		t.Fatal(err)
	}
	out, err := srv.Client().DownloadStream(ctx, bucket, "a/b/blob.bin", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	got, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want the %d written", len(got), len(want))
	}
	resp := do(t, http.MethodGet, srv.Endpoint+"/"+bucket+"/a/b/blob.bin", nil)
	if resp.StatusCode/100 == 2 {
		t.Fatalf("anonymous GET of a private blob: status %d, want a refusal", resp.StatusCode)
	}
}

// gcsSigner signs for bucket through the proxy, as signgate would.
func gcsSigner(t *testing.T, bucket string, sa *ServiceAccount) *gcs.Signer {
	t.Helper()
	sg, err := gcs.New(gcs.Config{Bucket: bucket, Endpoint: servers.GCS.Endpoint, ServiceAccountJSON: sa.JSON})
	if err != nil {
		t.Fatal(err)
	}
	return sg
}

func signGCS(t *testing.T, sg *gcs.Signer, g signer.Grant) signer.Signed {
	t.Helper()
	s, err := sg.Sign(t.Context(), g)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGCSProxyForwardsAURLSignedBySignerGCS(t *testing.T) {
	need(t, servers.GCSErr)
	bucket := bucketName(t, "forwarded")
	ctx := t.Context()
	g := servers.GCS
	if err := g.CreateBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	sg := gcsSigner(t, bucket, g.ServiceAccount)
	want := randomBytes(t, 4096)

	w := signGCS(t, sg, signer.Grant{Key: "a/object.bin", Operation: signer.OpWrite, TTL: time.Minute, ContentType: "application/octet-stream"})
	req, err := http.NewRequestWithContext(ctx, w.Method, w.URL, bytes.NewReader(want))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range w.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("signed PUT: status %d (%s), want 200", resp.StatusCode, g.Proxy.LastRefusal())
	}
	if got, found, err := g.GetObject(ctx, bucket, "a/object.bin"); err != nil || !found || !bytes.Equal(got, want) {
		t.Fatalf("stored object: %d bytes found=%v err=%v, want the %d written", len(got), found, err, len(want))
	}

	r := signGCS(t, sg, signer.Grant{Key: "a/object.bin", Operation: signer.OpRead, TTL: time.Minute})
	resp = do(t, r.Method, r.URL, nil)
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
		t.Fatalf("signed GET: status %d, %d bytes (%s); want 200 and the %d written", resp.StatusCode, len(got), g.Proxy.LastRefusal(), len(want))
	}
}

func TestGCSProxyRefusesRequestsWithoutAValidSignature(t *testing.T) {
	need(t, servers.GCSErr)
	g := servers.GCS
	sg := gcsSigner(t, "any-bucket", g.ServiceAccount)
	stranger, err := NewServiceAccount(g.ServiceAccount.Email) // same name, other key
	if err != nil {
		t.Fatal(err)
	}
	read := signGCS(t, sg, signer.Grant{Key: "a/object.bin", Operation: signer.OpRead, TTL: time.Minute})
	write := signGCS(t, sg, signer.Grant{Key: "a/object.bin", Operation: signer.OpWrite, TTL: time.Minute, ContentType: "application/json"})
	forged := signGCS(t, gcsSigner(t, "any-bucket", stranger), signer.Grant{Key: "a/object.bin", Operation: signer.OpRead, TTL: time.Minute})
	tests := []struct {
		name      string
		givenReq  func() *http.Request
		givenTime time.Time // zero: now
		wantCode  string
	}{
		{"refuses an unsigned request", func() *http.Request {
			return httptest.NewRequest(http.MethodGet, g.Endpoint+"/any-bucket/a/object.bin", nil)
		}, time.Time{}, "AccessDenied"},
		{"refuses a URL signed with another key", func() *http.Request {
			return httptest.NewRequest(forged.Method, forged.URL, nil)
		}, time.Time{}, "SignatureDoesNotMatch"},
		{"refuses a tampered signature", func() *http.Request {
			i := strings.Index(read.URL, "X-Goog-Signature=") + len("X-Goog-Signature=")
			c := "0"
			if read.URL[i] == '0' {
				c = "1"
			}
			return httptest.NewRequest(read.Method, read.URL[:i]+c+read.URL[i+1:], nil)
		}, time.Time{}, "SignatureDoesNotMatch"},
		{"refuses a URL after its expiry", func() *http.Request {
			return httptest.NewRequest(read.Method, read.URL, nil)
		}, read.ExpiresAt, "ExpiredToken"},
		{"refuses a read URL used for DELETE", func() *http.Request {
			return httptest.NewRequest(http.MethodDelete, read.URL, nil)
		}, time.Time{}, "SignatureDoesNotMatch"},
		{"refuses another object's path", func() *http.Request {
			return httptest.NewRequest(read.Method, strings.Replace(read.URL, "/a/object.bin?", "/a/other.bin?", 1), nil)
		}, time.Time{}, "SignatureDoesNotMatch"},
		{"refuses a write without its signed Content-Type", func() *http.Request {
			return httptest.NewRequest(write.Method, write.URL, strings.NewReader("{}"))
		}, time.Time{}, "SignatureDoesNotMatch"},
		{"refuses a write with another Content-Type", func() *http.Request {
			r := httptest.NewRequest(write.Method, write.URL, strings.NewReader("{}"))
			r.Header.Set("Content-Type", "text/plain")
			return r
		}, time.Time{}, "SignatureDoesNotMatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The proxy as a handler, with its clock set: nothing it refuses
			// reaches the backend.
			proxy := &Proxy{Email: g.ServiceAccount.Email, PublicKey: &g.ServiceAccount.Key.PublicKey}
			if !tt.givenTime.IsZero() {
				proxy.Now = func() time.Time { return tt.givenTime }
			}
			rec := httptest.NewRecorder()
			proxy.ServeHTTP(rec, tt.givenReq())
			body := rec.Body.String()
			if rec.Code != http.StatusForbidden || !strings.Contains(body, "<Code>"+tt.wantCode+"</Code>") {
				t.Fatalf("status %d body %s, want 403 with code %s", rec.Code, body, tt.wantCode)
			}
			if proxy.Passed.Load() != 0 || proxy.Refused.Load() != 1 {
				t.Fatalf("passed %d refused %d, want 0 and 1", proxy.Passed.Load(), proxy.Refused.Load())
			}
		})
	}
}

func TestGCSProxyRefusesUnsignedRequestsOverHTTP(t *testing.T) {
	need(t, servers.GCSErr)
	bucket := bucketName(t, "proxied")
	ctx := t.Context()
	g := servers.GCS
	if err := g.CreateBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	if err := g.PutObject(ctx, bucket, "a/object.bin", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	// fake-gcs-server itself serves the object to anyone; the proxy does not.
	if got, found, err := g.GetObject(ctx, bucket, "a/object.bin"); err != nil || !found || string(got) != "hello" {
		t.Fatalf("backend read: %q found=%v err=%v", got, found, err)
	}
	resp := do(t, http.MethodGet, g.Endpoint+"/"+bucket+"/a/object.bin", nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "<Code>AccessDenied</Code>") {
		t.Fatalf("unsigned GET through the proxy: status %d body %s, want 403 AccessDenied", resp.StatusCode, body)
	}
}

func do(t *testing.T, method, url string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestStartServerAtRefusesABusyPort: on a given port that something else
// holds, readiness could be answered by the other listener, so nothing is
// started.
func TestStartServerAtRefusesABusyPort(t *testing.T) {
	busy := httptest.NewServer(http.NotFoundHandler())
	defer busy.Close()
	port := busy.Listener.Addr().(*net.TCPAddr).Port
	started := false
	argv := func(int) []string { started = true; return []string{"true"} }
	ready := func(context.Context, int) error { return nil }
	_, _, err := StartServerAt(t.Context(), "busy", "", nil, port, argv, ready)
	if err == nil || !strings.Contains(err.Error(), "is not free") || started {
		t.Fatalf("StartServerAt on a busy port: started %v, error %v; want no start and a port error", started, err)
	}
}
