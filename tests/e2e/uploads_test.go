package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/signgate/signgate/tests/storage"
)

// uploadAnswer is the 200 answer of POST /v1/uploads.
type uploadAnswer struct {
	Flow      string    `json:"flow"`
	UploadID  string    `json:"upload_id"`
	Size      int64     `json:"size"`
	PartSize  int64     `json:"part_size"`
	ExpiresAt time.Time `json:"expires_at"`
	Key       string    `json:"key"`
	Bucket    string    `json:"bucket"`
	Parts     []struct {
		PartNumber int               `json:"part_number"`
		Offset     int64             `json:"offset"`
		Length     int64             `json:"length"`
		BlockID    string            `json:"block_id"`
		URL        string            `json:"url"`
		Method     string            `json:"method"`
		Headers    map[string]string `json:"headers"`
	} `json:"parts"`
	Start, Complete, Abort *struct {
		URL          string            `json:"url"`
		Method       string            `json:"method"`
		Headers      map[string]string `json:"headers"`
		Body         string            `json:"body"`
		BodyTemplate string            `json:"body_template"`
	}
}

// postAPI sends body to a signgate endpoint as subject.
func postAPI(t *testing.T, path, subject string, body any) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, suite.signgate+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+suite.keys[subject])
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, raw
}

func mustStartUpload(t *testing.T, body map[string]any) uploadAnswer {
	t.Helper()
	status, raw := postAPI(t, "/v1/uploads", "alice", body)
	if status != http.StatusOK {
		t.Fatalf("POST /v1/uploads %v: %d %s", body, status, raw)
	}
	var a uploadAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

// sent is what a storage server answered, with its headers.
type sent struct {
	status int
	header http.Header
	body   []byte
}

func (s sent) String() string { return storageAnswer{status: s.status, body: s.body}.String() }

// send is use with the response headers (a part's ETag).
func send(t *testing.T, method, rawURL string, headers map[string]string, body []byte) sent {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, rawURL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		if !strings.EqualFold(k, "Content-Length") { // net/http sets it from the body
			req.Header.Set(k, v)
		}
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return sent{status: resp.StatusCode, header: resp.Header, body: b}
}

func needServer(t *testing.T, err error) {
	t.Helper()
	trackInputs()
	switch {
	case suite.skip != "":
		storage.SkipOrFail(t, suite.skip)
	case err != nil:
		storage.SkipOrFail(t, "SKIPPED: "+err.Error())
	}
}

const uploadSize = 12<<20 + 12345 // over 12 MiB, with a short last part

func TestS3MultipartUpload(t *testing.T) {
	needServer(t, suite.servers.S3Err)
	t.Parallel()
	data := randomData(t, uploadSize)
	obj := object("checkpoint.bin")
	up := mustStartUpload(t, map[string]any{"team": "vision", "object": obj, "size": len(data), "part_size": 5 << 20, "content_type": "application/octet-stream"})
	if up.Flow != "s3_multipart" || up.UploadID == "" || len(up.Parts) != 3 || up.Complete == nil || up.Abort == nil {
		t.Fatalf("answer %+v", up)
	}
	part := func(i int) []byte { p := up.Parts[i]; return data[p.Offset : p.Offset+p.Length] }
	// The refusals use a short last part: versitygw answers a refused
	// request before reading its body and resets the connection, which a
	// client sending megabytes sees as a write error, not as the 403.
	small := mustStartUpload(t, map[string]any{"team": "vision", "object": object("tamper.bin"), "size": 5<<20 + 100, "part_size": 5 << 20})
	last := small.Parts[1]
	lastData := randomData(t, int(last.Length))
	t.Run("storage refuses a part URL whose part number was edited", func(t *testing.T) {
		bad, err := withParam(last.URL, "partNumber", "1")
		if err != nil {
			t.Fatal(err)
		}
		wantRefused(t, "PUT with partNumber=1 on part 2's URL", toAnswer(send(t, "PUT", bad, last.Headers, lastData)))
	})
	t.Run("storage refuses a part URL whose upload id was edited", func(t *testing.T) {
		bad, err := withParam(last.URL, "uploadId", up.UploadID)
		if err != nil {
			t.Fatal(err)
		}
		wantRefused(t, "PUT with another upload's uploadId", toAnswer(send(t, "PUT", bad, last.Headers, lastData)))
	})
	t.Run("storage refuses more bytes than the part's signed length", func(t *testing.T) {
		wantRefused(t, "PUT of part 2 plus one byte", toAnswer(send(t, "PUT", last.URL, nil, append(lastData, 0))))
	})
	if r := send(t, last.Method, last.URL, last.Headers, lastData); r.status != http.StatusOK {
		t.Fatalf("part 2 as signed: %s", r)
	}

	etags := make([]string, len(up.Parts))
	for i, p := range up.Parts {
		r := send(t, p.Method, p.URL, p.Headers, part(i))
		if r.status != http.StatusOK || r.header.Get("ETag") == "" {
			t.Fatalf("part %d: %s", p.PartNumber, r)
		}
		etags[i] = r.header.Get("ETag")
	}
	body := up.Complete.BodyTemplate
	for i, etag := range etags {
		body = strings.Replace(body, fmt.Sprintf("{etag:%d}", i+1), etag, 1)
	}
	if r := send(t, up.Complete.Method, up.Complete.URL, up.Complete.Headers, []byte(body)); r.status != http.StatusOK {
		t.Fatalf("complete: %s\nbody sent: %s", r, body)
	}
	wantStored(t, providerNamed("s3"), up.Bucket, up.Key, data)
	t.Logf("%d bytes in %d parts through signed URLs, read back byte-exact", len(data), len(up.Parts))
}

func TestS3MultipartExpiredPartAndAbort(t *testing.T) {
	needServer(t, suite.servers.S3Err)
	t.Parallel()
	// Short last parts, as in TestS3MultipartUpload.
	up := mustStartUpload(t, map[string]any{"team": "vision", "object": object("expiring.bin"), "size": 5<<20 + 100, "part_size": 5 << 20, "expires_in": 1})
	waitPast(up.ExpiresAt)
	wantRefused(t, "PUT of part 2 after expiry", toAnswer(send(t, "PUT", up.Parts[1].URL, up.Parts[1].Headers, make([]byte, up.Parts[1].Length))))

	up = mustStartUpload(t, map[string]any{"team": "vision", "object": object("aborted.bin"), "size": 5<<20 + 100, "part_size": 5 << 20})
	if r := send(t, up.Abort.Method, up.Abort.URL, up.Abort.Headers, nil); r.status != http.StatusNoContent {
		t.Fatalf("abort: %s", r)
	}
	if r := send(t, "PUT", up.Parts[1].URL, up.Parts[1].Headers, make([]byte, up.Parts[1].Length)); r.status/100 == 2 {
		t.Fatalf("a part of an aborted upload was accepted: %s", r)
	}
}

func TestAzureBlockUpload(t *testing.T) {
	needServer(t, suite.servers.AzureErr)
	t.Parallel()
	data := randomData(t, uploadSize)
	obj := object("dataset.tar")
	up := mustStartUpload(t, map[string]any{"team": "web", "object": obj, "size": len(data), "part_size": 5 << 20})
	if up.Flow != "azure_blocks" || len(up.Parts) != 3 || up.Complete == nil {
		t.Fatalf("answer %+v", up)
	}
	t.Run("the SAS cannot write any other blob", func(t *testing.T) {
		other := object("other.bin")
		seed(t, providerNamed("azure"), teamByName("web"), other, []byte("untouched"))
		swap := func(rawURL string) string {
			return strings.Replace(rawURL, "/web/"+obj+"?", "/web/"+other+"?", 1)
		}
		wantRefused(t, "Put Block on another blob", toAnswer(send(t, "PUT", swap(up.Parts[0].URL), nil, []byte("x"))))
		wantRefused(t, "Put Block List on another blob", toAnswer(send(t, "PUT", swap(up.Complete.URL), nil, []byte(up.Complete.Body))))
		otherContainer, err := withPathSegment(up.Parts[0].URL, "acme-web", "acme-mobile")
		if err != nil {
			t.Fatal(err)
		}
		wantRefused(t, "Put Block in another container", toAnswer(send(t, "PUT", otherContainer, nil, []byte("x"))))
		wantStored(t, providerNamed("azure"), "acme-web", "web/"+other, []byte("untouched"))
	})
	for i, p := range up.Parts {
		if r := send(t, p.Method, p.URL, p.Headers, data[p.Offset:p.Offset+p.Length]); r.status != http.StatusCreated {
			t.Fatalf("block %d: %s", i+1, r)
		}
	}
	if r := send(t, up.Complete.Method, up.Complete.URL, up.Complete.Headers, []byte(up.Complete.Body)); r.status != http.StatusCreated {
		t.Fatalf("Put Block List: %s", r)
	}
	wantStored(t, providerNamed("azure"), up.Bucket, up.Key, data)
	t.Logf("%d bytes in %d blocks through one blob SAS, read back byte-exact", len(data), len(up.Parts))
}

func TestAzureBlockUploadExpired(t *testing.T) {
	needServer(t, suite.servers.AzureErr)
	t.Parallel()
	up := mustStartUpload(t, map[string]any{"team": "web", "object": object("expiring.bin"), "size": 1024, "expires_in": 1})
	waitPast(up.ExpiresAt)
	wantRefused(t, "Put Block after expiry", toAnswer(send(t, "PUT", up.Parts[0].URL, nil, make([]byte, 1024))))
}

// TestGCSResumableStartThroughTheVerifyingProxy covers what can be covered
// of GCS: the verifying proxy (Google's checks) accepts the signed start
// as signed and refuses it without its signed headers. fake-gcs-server
// mishandles signed resumable starts, so the session itself is not used;
// the rest is unit-tested in signer/gcs.
func TestGCSResumableStartThroughTheVerifyingProxy(t *testing.T) {
	needServer(t, suite.servers.GCSErr)
	t.Parallel()
	up := mustStartUpload(t, map[string]any{"team": "nlp", "object": object("ckpt.bin"), "size": 6 << 20, "content_type": "application/octet-stream"})
	if up.Flow != "gcs_resumable" || up.Start == nil || up.Start.Headers["x-goog-resumable"] != "start" {
		t.Fatalf("answer %+v", up)
	}
	proxy := suite.servers.GCS.Proxy
	passed := proxy.Passed.Load()
	r := send(t, up.Start.Method, up.Start.URL, up.Start.Headers, nil)
	if proxy.Passed.Load() != passed+1 || r.status == http.StatusForbidden {
		t.Fatalf("the proxy refused the start as signed: %s (%s)", r, proxy.LastRefusal())
	}
	t.Logf("start passed the verifying proxy; fake-gcs-server answered %d", r.status)
	without := map[string]string{}
	for k, v := range up.Start.Headers {
		if k != "x-goog-resumable" {
			without[k] = v
		}
	}
	wantRefused(t, "start without x-goog-resumable", toAnswer(send(t, up.Start.Method, up.Start.URL, without, nil)))
	bigger := map[string]string{}
	for k, v := range up.Start.Headers {
		bigger[k] = v
	}
	bigger["x-goog-content-length-range"] = "0,99999999999"
	wantRefused(t, "start with a larger size range", toAnswer(send(t, up.Start.Method, up.Start.URL, bigger, nil)))
}

func toAnswer(s sent) storageAnswer { return storageAnswer{status: s.status, body: s.body} }

// waitPast polls the clock until one second past at, a signed expiry, so
// that storage (with its second precision) sees the URL expired.
func waitPast(at time.Time) {
	for time.Now().Before(at.Add(time.Second)) {
		time.Sleep(20 * time.Millisecond)
	}
}

func providerNamed(name string) *provider {
	for _, p := range providers {
		if p.name == name {
			return p
		}
	}
	panic("no provider " + name)
}
