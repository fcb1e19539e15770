package e2e

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
)

// teamExtras are policy data fields beyond writePolicy's, per team.
var teamExtras = map[string]map[string]any{
	// Browser uploads to gallery: images of at most 1 KiB.
	"gallery": {"upload_constraints": map[string]any{"max_bytes": 1024, "content_type": "image/"}},
}

// formAnswer is the 200 answer of POST /v1/sign with "form": true.
type formAnswer struct {
	URL    string            `json:"url"`
	Method string            `json:"method"`
	Fields map[string]string `json:"fields"`
	Key    string            `json:"key"`
	Bucket string            `json:"bucket"`
}

// postForm uploads data as a browser would: multipart/form-data with the
// signed fields, the client's own fields, then the file.
func postForm(t *testing.T, f formAnswer, own map[string]string, data []byte) sent {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for _, fields := range []map[string]string{f.Fields, own} {
		for k, v := range fields {
			if err := w.WriteField(k, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="upload"`)
	h.Set("Content-Type", "application/octet-stream")
	part, err := w.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	part.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return send(t, http.MethodPost, f.URL, map[string]string{"Content-Type": w.FormDataContentType()}, body.Bytes())
}

// TestS3FormUploadLimitsAreEnforcedByStorage proves the guardrails of a
// POST policy on versitygw: the policy decides max_bytes and a content
// type prefix, signgate signs them into the form, and the storage server,
// not signgate, refuses what breaks them.
func TestS3FormUploadLimitsAreEnforcedByStorage(t *testing.T) {
	needServer(t, suite.servers.S3Err)
	t.Parallel()
	sign := func(t *testing.T, obj string) formAnswer {
		status, raw := postAPI(t, "/v1/sign", "alice", map[string]any{"team": "gallery", "operation": "write", "object": obj, "form": true})
		if status != http.StatusOK {
			t.Fatalf("form: %d %s", status, raw)
		}
		var f formAnswer
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatal(err)
		}
		if f.Method != http.MethodPost || f.Fields["policy"] == "" {
			t.Fatalf("form answer %s", raw)
		}
		return f
	}
	p := providerNamed("s3")
	t.Run("accepts a conforming upload", func(t *testing.T) {
		f := sign(t, object("ok.png"))
		data := randomData(t, 1024)
		if r := postForm(t, f, map[string]string{"Content-Type": "image/png"}, data); r.status/100 != 2 {
			t.Fatalf("conforming upload refused: %s", r)
		}
		wantStored(t, p, f.Bucket, f.Key, data)
	})
	t.Run("storage refuses an upload over max_bytes", func(t *testing.T) {
		f := sign(t, object("big.png"))
		r := postForm(t, f, map[string]string{"Content-Type": "image/png"}, randomData(t, 1025))
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "EntityTooLarge") {
			t.Fatalf("oversized upload: %s, want 400 EntityTooLarge", r)
		}
		wantStored(t, p, f.Bucket, f.Key, nil)
		t.Logf("refused by storage: %s", r)
	})
	t.Run("storage refuses a content type outside the prefix", func(t *testing.T) {
		f := sign(t, object("page.html"))
		r := postForm(t, f, map[string]string{"Content-Type": "text/html"}, []byte("<html></html>"))
		wantRefused(t, "form upload as text/html", toAnswer(r))
		wantStored(t, p, f.Bucket, f.Key, nil)
	})
	t.Run("storage refuses the form for another key", func(t *testing.T) {
		f := sign(t, object("mine.png"))
		f.Fields["key"] = "gallery/" + object("theirs.png")
		wantRefused(t, "form upload to another key", toAnswer(postForm(t, f, map[string]string{"Content-Type": "image/png"}, []byte("png"))))
	})
	t.Run("signgate refuses a PUT URL that cannot bound the size", func(t *testing.T) {
		status, raw := postAPI(t, "/v1/sign", "alice", map[string]any{"team": "gallery", "operation": "write", "object": object("put.png"), "content_type": "image/png"})
		if status != http.StatusUnprocessableEntity || !strings.Contains(string(raw), "constraint_unenforceable") || strings.Contains(string(raw), "http") {
			t.Fatalf("got %d %s", status, raw)
		}
	})
}
