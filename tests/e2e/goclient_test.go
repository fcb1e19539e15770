package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signgate/signgate/client"
)

// The Go client (package client) against the real servers: its parallel
// parts, retries, resume and typed errors.

// clientProviders are the providers whose chunked flow the client drives
// end to end, with alice's team on each.
var clientProviders = []struct{ provider, team string }{
	{"s3", "vision"},
	{"azure", "web"},
	{"gcs", "nlp"},
}

func newClient(subject string, opts ...client.Option) *client.Client {
	return client.New(suite.signgate, suite.keys[subject], opts...)
}

// fastRetry keeps the tests' retries quick; the backoff is the same code.
var fastRetry = client.WithRetry(client.Retry{Attempts: 4, Base: 20 * time.Millisecond, Max: 200 * time.Millisecond})

func serverErrOf(name string) error {
	switch name {
	case "s3":
		return suite.servers.S3Err
	case "azure":
		return suite.servers.AzureErr
	}
	return suite.servers.GCSErr
}

// readBack downloads obj through the client, in parallel ranges, into a
// file and returns its bytes.
func readBack(t *testing.T, c *client.Client, tm, obj string) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "download")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := c.Download(t.Context(), tm, obj, f, &client.DownloadOptions{PartSize: 5 << 20, Parallel: 4})
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != n {
		t.Fatalf("Download said %d bytes, the file holds %d", n, len(b))
	}
	return b
}

func TestClientParallelUpload64MiB(t *testing.T) {
	for _, cp := range clientProviders {
		t.Run(cp.provider, func(t *testing.T) {
			needServer(t, serverErrOf(cp.provider))
			data := randomData(t, 64<<20)
			c := newClient("alice", fastRetry)
			var calls, last atomic.Int64
			obj := object("big.bin")
			start := time.Now()
			res, err := c.Upload(t.Context(), cp.team, obj, bytes.NewReader(data), int64(len(data)), &client.UploadOptions{
				PartSize: 8 << 20, Parallel: 8, ContentType: contentTypeFor(cp.provider),
				Progress: func(done, total int64) { calls.Add(1); last.Store(done) },
			})
			if err != nil {
				t.Fatalf("Upload: %v", err)
			}
			parallel := time.Since(start)
			if res.Parts != 8 || res.Key != cp.team+"/"+obj || res.DecisionID == "" {
				t.Errorf("result %+v, want 8 parts of %s/%s with a decision id", res, cp.team, obj)
			}
			if last.Load() != int64(len(data)) || calls.Load() < 9 {
				t.Errorf("progress: %d calls, last %d; want one per part and the total last", calls.Load(), last.Load())
			}
			wantStored(t, providerNamed(cp.provider), res.Bucket, res.Key, data)
			if got := readBack(t, c, cp.team, obj); !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes that differ from the %d uploaded", len(got), len(data))
			}
			// The same bytes with one signed PUT, for comparison.
			start = time.Now()
			if _, err := c.Put(t.Context(), cp.team, object("single.bin"), bytes.NewReader(data), int64(len(data)), ""); err != nil {
				t.Fatalf("single PUT: %v", err)
			}
			single := time.Since(start)
			t.Logf("%s: 64 MiB in 8 parallel parts %s (%.0f MiB/s); one PUT %s (%.0f MiB/s)", cp.provider,
				parallel.Round(time.Millisecond), 64/parallel.Seconds(), single.Round(time.Millisecond), 64/single.Seconds())
		})
	}
}

// contentTypeFor is a content type where the flow can bind one; Azure's
// block SAS cannot, and refuses it.
func contentTypeFor(provider string) string {
	if provider == "azure" {
		return ""
	}
	return "application/octet-stream"
}

// faults is an http.RoundTripper that makes the requests it is told to
// fail fail, and counts what went through.
type faults struct {
	next http.RoundTripper

	mu     sync.Mutex
	fail   func(*http.Request) bool
	failed int
	parts  int // parts sent (PUTs with a body, but Put Block List)
}

func (f *faults) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	fail := f.fail != nil && f.fail(r)
	n := f.failed
	if fail {
		f.failed++
	} else if r.Method == http.MethodPut && r.ContentLength > 0 && r.URL.Query().Get("comp") != "blocklist" {
		f.parts++
	}
	f.mu.Unlock()
	if fail {
		if r.Body != nil {
			r.Body.Close()
		}
		if n%2 == 0 {
			return nil, errors.New("injected: connection reset by peer")
		}
		return &http.Response{
			StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable", Request: r,
			Header: http.Header{"Content-Type": {"application/xml"}},
			Body:   io.NopCloser(strings.NewReader("<Error><Code>ServiceUnavailable</Code><Message>injected</Message></Error>")),
		}, nil
	}
	return f.next.RoundTrip(r)
}

// isPart reports whether r sends part p of plan.
func isPart(plan *client.Plan, p client.Part) func(*http.Request) bool {
	return func(r *http.Request) bool {
		if r.Method != http.MethodPut {
			return false
		}
		switch plan.Flow {
		case client.FlowS3Multipart:
			return r.URL.Query().Get("partNumber") == fmt.Sprint(p.PartNumber)
		case client.FlowAzureBlocks:
			return r.URL.Query().Get("blockid") == p.BlockID
		}
		return strings.HasPrefix(r.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", p.Offset))
	}
}

func TestClientPartFailsTwiceThenSucceeds(t *testing.T) {
	for _, cp := range clientProviders {
		t.Run(cp.provider, func(t *testing.T) {
			needServer(t, serverErrOf(cp.provider))
			t.Parallel()
			data := randomData(t, 15<<20+777)
			obj := object("flaky.bin")
			f := &faults{next: http.DefaultTransport}
			c := newClient("alice", fastRetry, client.WithStorageTransport(f))
			plan, err := c.PlanUpload(t.Context(), client.PlanRequest{Team: cp.team, Object: obj, Size: int64(len(data)), PartSize: 5 << 20, ContentType: contentTypeFor(cp.provider)})
			if err != nil {
				t.Fatal(err)
			}
			failing := isPart(plan, plan.Parts[1])
			f.fail = func(r *http.Request) bool { return failing(r) && f.failed < 2 }
			_, err = c.Upload(t.Context(), cp.team, obj, bytes.NewReader(data), int64(len(data)), &client.UploadOptions{
				Parallel: 4, Resume: &client.UploadState{Plan: *plan},
			})
			if err != nil {
				t.Fatalf("Upload with part 2 failing twice: %v", err)
			}
			if f.failed != 2 {
				t.Fatalf("%d requests failed, want 2", f.failed)
			}
			wantStored(t, providerNamed(cp.provider), plan.Bucket, plan.Key, data)
			t.Logf("part 2 failed twice (a reset, a 503), then was stored; the object reads back byte-exact")
		})
	}
}

func TestClientResumesAKilledUpload(t *testing.T) {
	for _, cp := range clientProviders {
		t.Run(cp.provider, func(t *testing.T) {
			needServer(t, serverErrOf(cp.provider))
			t.Parallel()
			data := randomData(t, 30<<20+5)
			obj := object("resumed.bin")
			// The first run is killed once two parts are stored.
			ctx, kill := context.WithCancel(t.Context())
			defer kill()
			var saved *client.UploadState
			var mu sync.Mutex
			_, err := newClient("alice", fastRetry).Upload(ctx, cp.team, obj, bytes.NewReader(data), int64(len(data)), &client.UploadOptions{
				PartSize: 5 << 20, Parallel: 2, ContentType: contentTypeFor(cp.provider),
				OnState: func(s *client.UploadState) {
					mu.Lock()
					defer mu.Unlock()
					saved = s
					if len(s.Done) >= 2 {
						kill()
					}
				},
			})
			var ue *client.UploadError
			if !errors.As(err, &ue) || !errors.Is(err, context.Canceled) {
				t.Fatalf("killed Upload returned %v, want an *UploadError for a canceled context", err)
			}
			mu.Lock()
			state := saved
			mu.Unlock()
			if state == nil || len(state.Done) < 2 || len(state.Done) == len(state.Plan.Parts) {
				t.Fatalf("saved state %+v, want some parts but not all", state)
			}
			before := len(state.Done)
			f := &faults{next: http.DefaultTransport}
			res, err := newClient("alice", fastRetry, client.WithStorageTransport(f)).Upload(t.Context(), cp.team, obj,
				bytes.NewReader(data), int64(len(data)), &client.UploadOptions{Parallel: 2, Resume: state})
			if err != nil {
				t.Fatalf("resumed Upload: %v", err)
			}
			if res.Resumed != before || f.parts != len(state.Plan.Parts)-before {
				t.Errorf("resume: %d parts kept, %d sent; want %d kept and %d sent", res.Resumed, f.parts, before, len(state.Plan.Parts)-before)
			}
			wantStored(t, providerNamed(cp.provider), res.Bucket, res.Key, data)
			t.Logf("killed after %d of %d parts; the resumed upload sent %d parts and reads back byte-exact", before, len(state.Plan.Parts), f.parts)
		})
	}
}

func TestClientDeniedIsTyped(t *testing.T) {
	needServer(t, nil)
	c := newClient("bob")
	_, err := c.Upload(t.Context(), "audio", object("x.bin"), bytes.NewReader([]byte("x")), 1, nil)
	if !client.IsDenied(err) || client.DecisionID(err) == "" {
		t.Fatalf("Upload to a read-only team: %v; want a denial with a decision id", err)
	}
	var e *client.Error
	if !errors.As(err, &e) || e.Status != http.StatusForbidden || len(e.Reasons) == 0 {
		t.Fatalf("error %#v, want a 403 problem with reasons", err)
	}
	if _, err := c.Sign(t.Context(), client.SignRequest{Team: "vision", Operation: "read", Object: "a"}); !client.IsDenied(err) {
		t.Fatalf("Sign for another team: %v, want denied", err)
	}
	d, err := c.Decide(t.Context(), client.SignRequest{Team: "audio", Operation: "read", Object: "a"})
	if err != nil || !d.Allow || d.DecisionID == "" {
		t.Fatalf("Decide: %+v %v, want allowed with a decision id", d, err)
	}
	res, err := c.SignBatch(t.Context(), []client.SignRequest{
		{Team: "audio", Operation: "read", Object: "a"},
		{Team: "audio", Operation: "write", Object: "a"},
	})
	if err != nil || len(res) != 2 || res[0].Signed == nil || !client.IsDenied(res[1].Err) || client.DecisionID(res[1].Err) == "" {
		t.Fatalf("SignBatch: %+v %v; want the read signed and the write denied with its decision id", res, err)
	}
	if _, err := client.New(suite.signgate, "wrong").Sign(t.Context(), client.SignRequest{Team: "audio", Operation: "read", Object: "a"}); !client.IsUnauthenticated(err) {
		t.Fatalf("a wrong key: %v, want unauthenticated", err)
	}
}

// corrupting flips one byte of the first request that matches, as a
// faulty network or disk would, and sends it on.
type corrupting struct {
	next  http.RoundTripper
	match func(*http.Request) bool
	done  atomic.Bool
}

func (c *corrupting) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || !c.match(r) || !c.done.CompareAndSwap(false, true) {
		return c.next.RoundTrip(r)
	}
	b, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	b[len(b)/2] ^= 0xff
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(b))
	return c.next.RoundTrip(r)
}

func TestClientCatchesACorruptedPart(t *testing.T) {
	for _, cp := range clientProviders[:2] { // S3's ETag and Azure's Content-MD5 check each part
		t.Run(cp.provider, func(t *testing.T) {
			needServer(t, serverErrOf(cp.provider))
			t.Parallel()
			data := randomData(t, 10<<20+1)
			obj := object("corrupted.bin")
			c := &corrupting{next: http.DefaultTransport}
			cl := newClient("alice", fastRetry, client.WithStorageTransport(c))
			plan, err := cl.PlanUpload(t.Context(), client.PlanRequest{Team: cp.team, Object: obj, Size: int64(len(data)), PartSize: 5 << 20})
			if err != nil {
				t.Fatal(err)
			}
			c.match = isPart(plan, plan.Parts[0])
			if _, err := cl.Upload(t.Context(), cp.team, obj, bytes.NewReader(data), int64(len(data)), &client.UploadOptions{Resume: &client.UploadState{Plan: *plan}}); err != nil {
				t.Fatalf("Upload: %v", err)
			}
			if !c.done.Load() {
				t.Fatal("no part was corrupted")
			}
			wantStored(t, providerNamed(cp.provider), plan.Bucket, plan.Key, data)
		})
	}
}

func TestClientPutSwitchesToTheUploadFlow(t *testing.T) {
	needServer(t, suite.servers.S3Err)
	t.Parallel()
	c := newClient("alice", fastRetry)
	data := randomData(t, 500)
	// gallery's policy bounds the size, which a PUT URL cannot enforce.
	if _, err := c.Sign(t.Context(), client.SignRequest{Team: "gallery", Operation: "write", Object: "a.png", ContentType: "image/png"}); !client.IsUnenforceable(err) {
		t.Fatalf("PUT URL for gallery: %v, want constraint_unenforceable", err)
	}
	obj := object("cat.png")
	res, err := c.Put(t.Context(), "gallery", obj, bytes.NewReader(data), int64(len(data)), "image/png")
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	wantStored(t, providerNamed("s3"), res.Bucket, res.Key, data)
	_, err = c.Put(t.Context(), "gallery", object("big.png"), bytes.NewReader(make([]byte, 2048)), 2048, "image/png")
	var e *client.Error
	if !errors.As(err, &e) || e.Status != http.StatusUnprocessableEntity && !client.IsDenied(err) {
		t.Fatalf("Put over max_bytes: %v, want a typed refusal", err)
	}
	t.Logf("a PUT refused as unenforceable became a one-part upload; over max_bytes: %v", err)
}

func TestClientAbortsAnUploadItGivesUp(t *testing.T) {
	needServer(t, suite.servers.S3Err)
	t.Parallel()
	data := randomData(t, 10<<20+1)
	obj := object("given-up.bin")
	f := &faults{next: http.DefaultTransport}
	c := newClient("alice", fastRetry, client.WithStorageTransport(f))
	plan, err := c.PlanUpload(t.Context(), client.PlanRequest{Team: "vision", Object: obj, Size: int64(len(data)), PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var deletes atomic.Int64
	failing := isPart(plan, plan.Parts[1])
	f.fail = func(r *http.Request) bool {
		if r.Method == http.MethodDelete {
			deletes.Add(1)
		}
		return failing(r) // every time: the retries run out
	}
	_, err = c.Upload(t.Context(), "vision", obj, bytes.NewReader(data), int64(len(data)), &client.UploadOptions{Resume: &client.UploadState{Plan: *plan}})
	var ue *client.UploadError
	if !errors.As(err, &ue) || f.failed != 4 {
		t.Fatalf("Upload with part 2 always failing: %v after %d failures; want an *UploadError after 4 tries", err, f.failed)
	}
	if deletes.Load() != 1 {
		t.Fatalf("%d DELETEs of the abort URL, want 1", deletes.Load())
	}
	// The short last part: versitygw refuses before reading a body, and a
	// client sending megabytes sees a reset rather than the answer.
	p := plan.Parts[2]
	if r := send(t, p.Method, p.URL, p.Headers, data[p.Offset:p.Offset+p.Length]); r.status/100 == 2 {
		t.Fatalf("the upload still takes parts after the client gave up: %s", r)
	}
	wantStored(t, providerNamed("s3"), plan.Bucket, plan.Key, nil)
}

func TestClientResumesADownload(t *testing.T) {
	needServer(t, suite.servers.S3Err)
	t.Parallel()
	data := randomData(t, 20<<20+7)
	obj := object("download.bin")
	seed(t, providerNamed("s3"), teamByName("vision"), obj, data)
	f := &faults{next: http.DefaultTransport}
	f.fail = func(r *http.Request) bool {
		return strings.HasPrefix(r.Header.Get("Range"), fmt.Sprintf("bytes=%d-", 10<<20))
	}
	path := filepath.Join(t.TempDir(), "download.bin")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	_, err = newClient("alice", fastRetry, client.WithStorageTransport(f)).Download(t.Context(), "vision", obj, out,
		&client.DownloadOptions{PartSize: 5 << 20, Parallel: 1})
	var de *client.DownloadError
	if !errors.As(err, &de) || de.State.Done[2] || !de.State.Done[0] {
		t.Fatalf("Download with range 2 failing: %v; want a *DownloadError with range 0 done and 2 not", err)
	}
	counted := &faults{next: http.DefaultTransport}
	var gets atomic.Int64
	counted.fail = func(r *http.Request) bool { gets.Add(1); return false }
	n, err := newClient("alice", fastRetry, client.WithStorageTransport(counted)).Download(t.Context(), "vision", obj, out,
		&client.DownloadOptions{Resume: de.State, Parallel: 2})
	if err != nil || n != int64(len(data)) {
		t.Fatalf("resumed Download: %d, %v", n, err)
	}
	if want := int64(5 - len(de.State.Done)); gets.Load() != want {
		t.Errorf("resumed Download sent %d GETs, want %d (the ranges not yet written)", gets.Load(), want)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
		t.Fatal("the resumed download differs from the object")
	}
}
