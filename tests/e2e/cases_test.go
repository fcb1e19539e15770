package e2e

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/signgate/signgate/tests/storage"
)

// e2eCase is one row of the matrix, run once per provider.
type e2eCase struct {
	row  string // the matrix row
	name string // the subtest: the behaviour it shows
	// run checks the case; it returns why the case does not apply to p,
	// or "" when it does.
	run func(t *testing.T, p *provider) (notApplicable string)
	// signgateOnly cases need no storage server.
	signgateOnly bool
}

var cases = []e2eCase{
	{"write, then read back the same bytes", "writes through a write URL and reads the bytes back", caseRoundTrip, false},
	{"delete; a fresh read URL then gets 404", "deletes through a delete URL", caseDelete, false},
	{"expired URL refused by storage", "storage refuses an expired URL", caseExpired, false},
	{"tampered signature refused by storage", "storage refuses a tampered signature", caseTamperedSignature, false},
	{"edited expiry refused by storage", "storage refuses an edited expiry", caseEditedExpiry, false},
	{"read URL used for PUT/DELETE, write URL for GET: refused", "storage refuses a URL used with another method", caseWrongMethod, false},
	{"URL for key A used for key B: refused", "storage refuses a URL used for another key", caseOtherKey, false},
	{"URL used on another team's bucket: refused", "storage refuses a URL used on another bucket", caseOtherBucket, false},
	{"write with a Content-Type other than the signed one: refused", "storage refuses a write with another Content-Type", caseContentType, false},
	{"user of team A asks for team B's object: signgate 403 denied", "signgate denies a user outside the team", caseNotMember, true},
	{"operation the team lacks: signgate 403 denied", "signgate denies an operation the team lacks", caseOperationNotAllowed, true},
	{"expires_in above the cap is clamped; expires_at = URL expiry = now+cap", "signgate clamps a TTL above the cap", caseClamp, false},
	{"decision id in the URL (x-signgate-decision): stripped or swapped, refused", "storage refuses a URL whose decision id was stripped or swapped", caseDecisionParam, false},
}

func TestSignedURLsOnRealStorage(t *testing.T) {
	trackInputs()
	if suite.skip != "" {
		for _, p := range providers {
			for _, c := range cases {
				setCell(c.row, p.name, suite.skip)
			}
		}
		storage.SkipOrFail(t, suite.skip)
	}
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel() // the providers' expiry waits overlap
			serverErr := p.serverErr()
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					if serverErr != nil && !c.signgateOnly {
						setCell(c.row, p.name, "SKIPPED: "+p.server+" not installed")
						storage.SkipOrFail(t, serverErr.Error())
					}
					var notApplicable string
					t.Cleanup(func() { recordOutcome(t, c.row, p.name, &notApplicable) })
					notApplicable = c.run(t, p)
				})
			}
		})
	}
}

// object is a fresh object name, unique to the run; signgate puts it under
// the team prefix.
func object(name string) string {
	return fmt.Sprintf("e2e/%s/%s", randomHex(6), name)
}

func randomData(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// seed stores data at the key signgate maps obj to, directly on the server,
// and returns that key.
func seed(t *testing.T, p *provider, tm team, obj string, data []byte) string {
	t.Helper()
	key := tm.name + "/" + obj
	if err := p.put(t.Context(), tm.bucket, key, data); err != nil {
		t.Fatal(err)
	}
	return key
}

// wantStored checks what the server holds at bucket/key, directly.
func wantStored(t *testing.T, p *provider, bucket, key string, want []byte) {
	t.Helper()
	got, found, err := p.get(t.Context(), bucket, key)
	switch {
	case err != nil:
		t.Fatal(err)
	case want == nil && found:
		t.Errorf("%s/%s exists (%d bytes), want it absent", bucket, key, len(got))
	case want != nil && !found:
		t.Errorf("%s/%s is absent, want %d bytes", bucket, key, len(want))
	case want != nil && !bytes.Equal(got, want):
		t.Errorf("%s/%s holds %d other bytes, want the %d written", bucket, key, len(got), len(want))
	}
}

func read(p *provider, obj string) signRequest {
	return signRequest{Team: p.team.name, Operation: "read", Object: obj}
}

func caseRoundTrip(t *testing.T, p *provider) string {
	obj := object("model.pt")
	w := mustSign(t, "alice", signRequest{Team: p.team.name, Operation: "write", Object: obj})
	wantKey := p.team.name + "/" + obj
	if w.Method != http.MethodPut || w.Provider != p.name || w.Bucket != p.team.bucket || w.Key != wantKey {
		t.Fatalf("write answer: method %s provider %s bucket %s key %s; want PUT %s %s %s",
			w.Method, w.Provider, w.Bucket, w.Key, p.name, p.team.bucket, wantKey)
	}
	data := randomData(t, 64<<10)
	wantOK(t, "PUT through the write URL", use(t, w.Method, w.URL, w.Headers, data))
	wantStored(t, p, p.team.bucket, w.Key, data)

	r := mustSign(t, "alice", read(p, obj))
	if r.Method != http.MethodGet {
		t.Fatalf("read URL method %s, want GET", r.Method)
	}
	got := use(t, r.Method, r.URL, r.Headers, nil)
	wantOK(t, "GET through the read URL", got)
	if !bytes.Equal(got.body, data) {
		t.Fatalf("read back %d bytes, want the %d written", len(got.body), len(data))
	}
	return ""
}

func caseDelete(t *testing.T, p *provider) string {
	obj := object("old.bin")
	key := seed(t, p, p.team, obj, randomData(t, 1024))
	d := mustSign(t, "alice", signRequest{Team: p.team.name, Operation: "delete", Object: obj})
	if d.Method != http.MethodDelete {
		t.Fatalf("delete URL method %s, want DELETE", d.Method)
	}
	wantOK(t, "DELETE through the delete URL", use(t, d.Method, d.URL, d.Headers, nil))
	wantStored(t, p, p.team.bucket, key, nil)

	r := mustSign(t, "alice", read(p, obj))
	if got := use(t, r.Method, r.URL, r.Headers, nil); got.status != http.StatusNotFound {
		t.Fatalf("GET after delete: storage answered %s; want 404", got)
	}
	return ""
}

func caseExpired(t *testing.T, p *provider) string {
	obj := object("short.bin")
	seed(t, p, p.team, obj, []byte("short-lived"))
	req := read(p, obj)
	req.ExpiresIn = 1
	before := time.Now()
	r := mustSign(t, "alice", req)
	if lo, hi := before.Add(-time.Second), time.Now().Add(2*time.Second); r.ExpiresAt.Before(lo) || r.ExpiresAt.After(hi) {
		t.Fatalf("expires_at %s for expires_in 1, want about %s", r.ExpiresAt, before.Add(time.Second))
	}
	waitPast(r.ExpiresAt)
	wantRefused(t, "GET with an expired URL", use(t, r.Method, r.URL, r.Headers, nil))
	return ""
}

func caseTamperedSignature(t *testing.T, p *provider) string {
	obj := object("tamper.bin")
	seed(t, p, p.team, obj, []byte("genuine"))
	r := mustSign(t, "alice", read(p, obj))
	wantOK(t, "GET with the URL as signed", use(t, r.Method, r.URL, r.Headers, nil))
	bad, err := withFlippedSignature(r.URL, p.sigParam)
	if err != nil {
		t.Fatal(err)
	}
	wantRefused(t, "GET with one character of "+p.sigParam+" changed", use(t, r.Method, bad, r.Headers, nil))
	return ""
}

func caseEditedExpiry(t *testing.T, p *provider) string {
	obj := object("expiry.bin")
	seed(t, p, p.team, obj, []byte("genuine"))
	r := mustSign(t, "alice", read(p, obj))
	q, err := queryParams(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	param, later := p.laterExpiry(q)
	bad, err := withParam(r.URL, param, later)
	if err != nil {
		t.Fatal(err)
	}
	wantRefused(t, fmt.Sprintf("GET with %s=%s (signed %s)", param, later, q[param]), use(t, r.Method, bad, r.Headers, nil))
	return ""
}

func caseWrongMethod(t *testing.T, p *provider) string {
	obj := object("method.bin")
	original := []byte("original bytes")
	key := seed(t, p, p.team, obj, original)
	r := mustSign(t, "alice", read(p, obj))
	w := mustSign(t, "alice", signRequest{Team: p.team.name, Operation: "write", Object: obj})
	d := mustSign(t, "alice", signRequest{Team: p.team.name, Operation: "delete", Object: obj})

	// Each misuse sends the headers of the URL made for that method, so
	// that nothing but the signature stands in the way.
	wantRefused(t, "GET with a write URL", use(t, http.MethodGet, w.URL, r.Headers, nil))
	wantRefused(t, "GET with a delete URL", use(t, http.MethodGet, d.URL, r.Headers, nil))
	wantRefused(t, "PUT with a read URL", use(t, http.MethodPut, r.URL, w.Headers, []byte("overwritten")))
	wantRefused(t, "PUT with a delete URL", use(t, http.MethodPut, d.URL, w.Headers, []byte("overwritten")))
	wantRefused(t, "DELETE with a read URL", use(t, http.MethodDelete, r.URL, d.Headers, nil)) // last: it may remove the object
	wantStored(t, p, p.team.bucket, key, original)
	return ""
}

func caseOtherKey(t *testing.T, p *provider) string {
	dir := object("")
	seed(t, p, p.team, dir+"key-a.bin", []byte("object A"))
	seed(t, p, p.team, dir+"key-b.bin", []byte("object B"))
	r := mustSign(t, "alice", read(p, dir+"key-a.bin"))
	wantOK(t, "GET of key A with A's URL", use(t, r.Method, r.URL, r.Headers, nil))
	bad, err := withPathSegment(r.URL, "key-a.bin", "key-b.bin")
	if err != nil {
		t.Fatal(err)
	}
	wantRefused(t, "GET of key B with A's URL", use(t, r.Method, bad, r.Headers, nil))

	w := mustSign(t, "alice", signRequest{Team: p.team.name, Operation: "write", Object: dir + "key-a.bin"})
	bad, err = withPathSegment(w.URL, "key-a.bin", "key-b.bin")
	if err != nil {
		t.Fatal(err)
	}
	wantRefused(t, "PUT of key B with A's write URL", use(t, w.Method, bad, w.Headers, []byte("overwritten")))
	wantStored(t, p, p.team.bucket, p.team.name+"/"+dir+"key-b.bin", []byte("object B"))
	return ""
}

func caseOtherBucket(t *testing.T, p *provider) string {
	obj := object("shared-name.bin")
	key := seed(t, p, p.team, obj, []byte("ours"))
	// The same key in the other team's bucket, so that only the signature
	// can stop the request.
	if err := p.put(t.Context(), p.otherTeam.bucket, key, []byte("theirs")); err != nil {
		t.Fatal(err)
	}
	r := mustSign(t, "alice", read(p, obj))
	wantOK(t, "GET with the URL as signed", use(t, r.Method, r.URL, r.Headers, nil))
	bad, err := withPathSegment(r.URL, p.team.bucket, p.otherTeam.bucket)
	if err != nil {
		t.Fatal(err)
	}
	wantRefused(t, "GET in "+p.otherTeam.bucket+" with a URL for "+p.team.bucket, use(t, r.Method, bad, r.Headers, nil))

	w := mustSign(t, "alice", signRequest{Team: p.team.name, Operation: "write", Object: obj})
	bad, err = withPathSegment(w.URL, p.team.bucket, p.otherTeam.bucket)
	if err != nil {
		t.Fatal(err)
	}
	wantRefused(t, "PUT in "+p.otherTeam.bucket+" with a write URL for "+p.team.bucket, use(t, w.Method, bad, w.Headers, []byte("overwritten")))
	wantStored(t, p, p.otherTeam.bucket, key, []byte("theirs"))
	return ""
}

func caseContentType(t *testing.T, p *provider) string {
	obj := object("typed.json")
	req := signRequest{Team: p.team.name, Operation: "write", Object: obj, ContentType: "application/json"}
	if p.name == "azure" {
		a := sign(t, "alice", req)
		if a.status != http.StatusUnprocessableEntity || a.problem.Code != "unsupported_by_provider" {
			t.Fatalf("write with content_type on Azure: status %d body %s; want 422 unsupported_by_provider", a.status, a.body)
		}
		if _, ok := a.fields["url"]; ok {
			t.Fatalf("a 422 carries a url: %s", a.body)
		}
		return "Azure SAS cannot bind Content-Type; signgate refuses such a write with 422 unsupported_by_provider (checked)"
	}
	w := mustSign(t, "alice", req)
	if ct, ok := header(w.Headers, "Content-Type"); !ok || ct != "application/json" {
		t.Fatalf("headers %v, want Content-Type: application/json among them", w.Headers)
	}
	other := map[string]string{}
	for k, v := range w.Headers {
		if !strings.EqualFold(k, "Content-Type") {
			other[k] = v
		}
	}
	other["Content-Type"] = "text/html"
	wantRefused(t, "PUT with Content-Type text/html on a URL signed for application/json",
		use(t, w.Method, w.URL, other, []byte("<script>alert(1)</script>")))
	wantStored(t, p, p.team.bucket, w.Key, nil)

	data := []byte(`{"ok":true}`)
	wantOK(t, "PUT with the signed Content-Type", use(t, w.Method, w.URL, w.Headers, data))
	wantStored(t, p, p.team.bucket, w.Key, data)
	return ""
}

func caseNotMember(t *testing.T, p *provider) string {
	obj := object("secret.bin")
	for _, op := range []string{"read", "write", "delete"} {
		a := sign(t, "alice", signRequest{Team: p.otherTeam.name, Operation: op, Object: obj})
		wantDenied(t, a, "not_team_member")
	}
	return ""
}

func caseOperationNotAllowed(t *testing.T, p *provider) string {
	obj := object("readonly.bin")
	for _, op := range []string{"write", "delete"} {
		a := sign(t, "bob", signRequest{Team: p.otherTeam.name, Operation: op, Object: obj})
		wantDenied(t, a, "operation_not_allowed")
	}
	// The same user may read: the denial is about the operation alone.
	mustSign(t, "bob", signRequest{Team: p.otherTeam.name, Operation: "read", Object: obj})
	return ""
}

func caseClamp(t *testing.T, p *provider) string {
	obj := object("clamped.bin")
	seed(t, p, p.team, obj, []byte("clamped"))
	capTTL := time.Duration(maxTTL["read"]) * time.Second
	req := read(p, obj)
	req.ExpiresIn = int64(2 * capTTL / time.Second)
	before := time.Now()
	r := mustSign(t, "alice", req)
	after := time.Now()

	q, err := queryParams(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	inURL, err := p.expiry(q)
	if err != nil {
		t.Fatalf("expiry in the URL: %v", err)
	}
	if !r.ExpiresAt.Equal(inURL) {
		t.Errorf("expires_at %s, but the URL expires at %s", r.ExpiresAt.Format(time.RFC3339Nano), inURL.Format(time.RFC3339))
	}
	// Second precision in the URL: allow for truncation on either side.
	lo, hi := before.Add(capTTL-2*time.Second), after.Add(capTTL+2*time.Second)
	if inURL.Before(lo) || inURL.After(hi) {
		t.Errorf("URL expires at %s, want now+%s (between %s and %s)", inURL, capTTL, lo.Format(time.RFC3339), hi.Format(time.RFC3339))
	}
	wantOK(t, "GET with the clamped URL", use(t, r.Method, r.URL, r.Headers, nil))
	return ""
}
