package keyless

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/s3"
	"github.com/signgate/signgate/signer/s3/stsfake"
	"github.com/signgate/signgate/tests/storage"
)

// TestS3AssumedRoleURLsAgainstVersitygw signs with the credentials of an
// assumed-role session. The STS stand-in issues versitygw's own account as
// the session's keys, with a session token. versitygw has no STS and
// refuses every request that carries X-Amz-Security-Token (400
// InvalidToken), so temporary credentials cannot move bytes through it:
// the test pins that refusal (docs/testing.md), and the rest of the path
// (AssumeRole, the session policy, renewal, clamping) is tested against the
// STS stand-in in signer/s3 and cmd/signgate.
func TestS3AssumedRoleURLsAgainstVersitygw(t *testing.T) {
	ctx := t.Context()
	srv, err := storage.StartS3(ctx, t.TempDir(), "keyless-root", "keyless-root-secret")
	need(t, err)
	defer srv.Stop()
	sts := stsfake.Start(srv.AccessKey, srv.SecretKey)
	defer sts.Close()
	policy, err := s3.SessionPolicy("aws", "keyless", []string{"research/"})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := s3.AssumeRole(s3.StaticCredentials("AKIABASE", "base-secret"), s3.RoleConfig{
		RoleARN: "arn:aws:iam::123456789012:role/signgate-research", Duration: 15 * time.Minute,
		Policy: policy, Region: srv.Region, Endpoint: sts.URL,
	})
	if err != nil {
		t.Fatal(err)
	}
	sg, err := s3.New(s3.Config{Bucket: "keyless", Region: srv.Region, Endpoint: srv.Endpoint, Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.CreateBucket(ctx, "keyless"); err != nil {
		t.Fatal(err)
	}
	want := randomBytes(t, 4<<10)
	key := "research/run 1/ü.bin"
	put, err := sg.Sign(ctx, signer.Grant{Key: key, Operation: signer.OpWrite, TTL: time.Hour, DecisionID: "d-put"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(put.URL, "X-Amz-Security-Token=") {
		t.Fatalf("URL without the session token: %s", put.URL)
	}
	if put.ClampedBy != signer.ClampedByCredential || put.ExpiresAt.After(time.Now().Add(15*time.Minute)) {
		t.Errorf("a 1h URL on a 15m session: ExpiresAt %s, ClampedBy %q", put.ExpiresAt, put.ClampedBy)
	}
	status, body := send(t, put, want)
	if status != http.StatusBadRequest || !strings.Contains(string(body), "<Code>InvalidToken</Code>") {
		t.Fatalf("PUT with a session token: %d %s; versitygw used to refuse it with 400 InvalidToken: "+
			"if it now accepts session tokens, prove the URL moves bytes and update docs/testing.md", status, body)
	}
	if _, found, err := srv.GetObject(ctx, "keyless", key); err != nil || found {
		t.Fatalf("a refused PUT stored the object (%v)", err)
	}
	if sts.Calls.Load() != 1 {
		t.Errorf("%d AssumeRole calls, want 1", sts.Calls.Load())
	}
}
