package e2e

import (
	"testing"
)

// TestS3WriteURLRefusesACopySource: a pre-signed PUT for one key must not
// become a server-side copy of an object the caller may not read. The
// x-amz-copy-source header is not among the URL's signed headers, so
// versitygw refuses the request (403), and the destination stays absent.
// (Azure and GCS: docs/network.md, "Server-side copies".)
func TestS3WriteURLRefusesACopySource(t *testing.T) {
	needServer(t, suite.servers.S3Err)
	t.Parallel()
	s3p := providerNamed("s3")
	// A secret in bob's read-only team's bucket; alice is not a member.
	var audio team
	for _, tm := range teams {
		if tm.name == "audio" {
			audio = tm
		}
	}
	secret := randomData(t, 1024)
	srcKey := seed(t, s3p, audio, object("secret.bin"), secret)

	obj := object("copy-target.bin")
	w := mustSign(t, "alice", signRequest{Team: "vision", Operation: "write", Object: obj})
	headers := map[string]string{"x-amz-copy-source": "/" + audio.bucket + "/" + srcKey}
	for k, v := range w.Headers {
		headers[k] = v
	}
	wantRefused(t, "PUT with an unsigned x-amz-copy-source", toAnswer(send(t, w.Method, w.URL, headers, nil)))
	wantStored(t, s3p, w.Bucket, w.Key, nil)

	// The same URL still writes what it was signed for.
	data := randomData(t, 64)
	if r := send(t, w.Method, w.URL, w.Headers, data); r.status != 200 {
		t.Fatalf("PUT as signed: %s", r)
	}
	wantStored(t, s3p, w.Bucket, w.Key, data)
}
