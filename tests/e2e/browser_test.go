package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/chromedp/chromedp"

	"github.com/signgate/signgate/tests/storage"
)

// TestBrowserUploadsThroughSignedURLs loads examples/browser in headless
// Chromium from an origin other than signgate's, uploads a file to
// versitygw and to Azurite through signed URLs and reads it back; a page
// of an origin signgate does not allow is refused by the preflight.
func TestBrowserUploadsThroughSignedURLs(t *testing.T) {
	needServer(t, suite.servers.S3Err)
	needServer(t, suite.servers.AzureErr)
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		storage.SkipOrFail(t, "SKIPPED: no chromium on PATH (apt-get install chromium)")
	}
	root, err := storage.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	pages := http.FileServer(http.Dir(filepath.Join(root, "examples", "browser")))
	allowed := httptest.NewServer(pages) // 127.0.0.1, its own port: its own origin
	defer allowed.Close()
	other := httptest.NewServer(pages)
	defer other.Close()

	base := startCORSSigngate(t, allowed.URL)
	setBucketCORS(t, allowed.URL)

	t.Run("signgate refuses the preflight of an origin it does not list", func(t *testing.T) {
		for origin, want := range map[string]bool{allowed.URL: true, other.URL: false} {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodOptions, base+"/v1/sign", nil)
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
			resp, err := httpClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("Access-Control-Allow-Origin") == origin; got != want {
				t.Errorf("preflight from %s: Access-Control-Allow-Origin %q, want allowed=%v", origin, resp.Header.Get("Access-Control-Allow-Origin"), want)
			}
		}
	})

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true), chromedp.WindowSize(1000, 800))
	actx, cancel := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	bctx, cancel = context.WithTimeout(bctx, 90*time.Second)
	defer cancel()

	file := filepath.Join(t.TempDir(), "photo.bin")
	if err := os.WriteFile(file, randomData(t, 300<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	artifacts := filepath.Join(root, "tests", "artifacts")
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, page, team, shot string) string {
		t.Helper()
		err := chromedp.Do(bctx,
			chromedp.Navigate(page+"/index.html"),
			chromedp.SetValue(chromedp.ID("signgate"), base),
			chromedp.SetValue(chromedp.ID("key"), suite.keys["alice"]),
			chromedp.SetValue(chromedp.ID("team"), team),
			chromedp.SetValue(chromedp.ID("object"), object("browser.bin")),
			chromedp.SetUploadFiles(chromedp.ID("file"), []string{file}),
			chromedp.Click(chromedp.ID("upload")),
			chromedp.Poll[chromedp.Void](`!["ready", "working"].includes(document.getElementById("status").textContent)`, chromedp.WithPollingTimeout(60*time.Second)),
		)
		if err != nil {
			t.Fatalf("browser: %v", err)
		}
		status, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("status")))
		if err != nil {
			t.Fatalf("browser: %v", err)
		}
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("browser: %v", err)
		}
		path := filepath.Join(artifacts, shot)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %s (screenshot %s)", team, status, path)
		return status
	}
	for _, tc := range []struct{ provider, team string }{{"s3", "vision"}, {"azure", "web"}} {
		t.Run("uploads to "+tc.provider+" and reads it back", func(t *testing.T) {
			status := run(t, allowed.URL, tc.team, "browser-"+tc.provider+".png")
			if !strings.HasPrefix(status, "ok: 307200 bytes to "+tc.provider) || strings.Contains(status, "etag null") {
				t.Fatalf("page says %q; want the upload read back with its ETag readable", status)
			}
		})
	}
	t.Run("a page of another origin cannot call signgate", func(t *testing.T) {
		if status := run(t, other.URL, "vision", "browser-refused.png"); !strings.HasPrefix(status, "blocked: ") {
			t.Fatalf("page of a disallowed origin says %q; want the browser to block the call", status)
		}
	})
}

// startCORSSigngate starts a signgate of the suite's configuration whose
// server.cors allows origin, and returns its base URL.
func startCORSSigngate(t *testing.T, origin string) string {
	t.Helper()
	cfgFile := filepath.Join(suite.dir, "signgate-cors.yaml")
	var base string
	argv := func(port int) []string {
		base = fmt.Sprintf("http://127.0.0.1:%d", port)
		err := writeConfig(cfgFile, fmt.Sprintf("127.0.0.1:%d", port), suite.policyDir, suite.saFile, suite.servers, suite.keys,
			map[string]any{"sink": "file", "path": filepath.Join(suite.dir, "cors-audit.jsonl")})
		if err == nil {
			err = patchConfig(cfgFile, map[string]any{"cors": map[string]any{"allowed_origins": []string{origin}}})
		}
		if err != nil {
			t.Error(err)
		}
		return []string{suite.bin, "serve", "--config", cfgFile}
	}
	ready := func(ctx context.Context, _ int) error { return getOK(ctx, base+"/readyz") }
	sg, _, err := storage.StartServer(t.Context(), "signgate-cors", suite.dir, suite.env, argv, ready)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sg.Stop)
	return base
}

// patchConfig sets the server section of a JSON configuration file.
func patchConfig(path string, serverSection map[string]any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		return err
	}
	cfg["server"] = serverSection
	b, err = json.Marshal(cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// setBucketCORS sets, through each emulator's own API, the rules that
// signgate cors prints (docs/browser.md) for origin.
func setBucketCORS(t *testing.T, origin string) {
	t.Helper()
	_, err := suite.servers.S3.Client().PutBucketCors(t.Context(), &s3.PutBucketCorsInput{
		Bucket: aws.String("acme-vision"),
		CORSConfiguration: &s3types.CORSConfiguration{CORSRules: []s3types.CORSRule{{
			AllowedOrigins: []string{origin},
			AllowedMethods: []string{"GET", "HEAD", "PUT", "POST"},
			AllowedHeaders: []string{"content-type", "content-md5", "content-length", "range", "x-amz-*"},
			ExposeHeaders:  []string{"ETag", "Content-Length", "Content-Range"},
			MaxAgeSeconds:  aws.Int32(600),
		}}},
	})
	if err != nil {
		t.Fatalf("versitygw PutBucketCors: %v", err)
	}
	_, err = suite.servers.Azure.Client().ServiceClient().SetProperties(t.Context(), &service.SetPropertiesOptions{
		CORS: []*service.CORSRule{{
			AllowedOrigins:  to.Ptr(origin),
			AllowedMethods:  to.Ptr("GET,HEAD,PUT,OPTIONS"),
			AllowedHeaders:  to.Ptr("content-type,content-md5,range,x-ms-blob-type,x-ms-blob-content-type,x-ms-version,x-ms-date"),
			ExposedHeaders:  to.Ptr("etag,content-length,content-range,content-md5,x-ms-request-id"),
			MaxAgeInSeconds: to.Ptr(int32(600)),
		}},
	})
	if err != nil {
		t.Fatalf("Azurite Set Blob Service Properties: %v", err)
	}
}
