package s3

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/s3/stsfake"
	"github.com/signgate/signgate/signer/signertest"
)

var update = flag.Bool("update", false, "rewrite the golden session policies in testdata/")

func TestSessionPolicyGolden(t *testing.T) {
	tests := []struct {
		name           string
		givenPartition string
		givenBucket    string
		givenPrefixes  []string
		golden         string
	}{
		{"scopes a connector with one team to its prefix", "aws", "acme-research", []string{"research/"}, "session-policy-single-prefix.json"},
		{"scopes a connector with several teams to each prefix, once and sorted", "aws", "acme-vision", []string{"vision/", "media/", "vision/"}, "session-policy-multi-prefix.json"},
		{"opens the whole bucket when one team has no prefix", "aws", "acme-shared", []string{"ops/", ""}, "session-policy-whole-bucket.json"},
		{"escapes wildcards and variables in a prefix, in another partition", "aws-cn", "acme-cn", []string{"odd*name?/${x}/"}, "session-policy-escaped-cn.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SessionPolicy(tt.givenPartition, tt.givenBucket, tt.givenPrefixes)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got+"\n" != string(want) {
				t.Errorf("policy:\n%s\nwant (%s):\n%s", got, path, want)
			}
			var doc struct {
				Statement []struct{ Action, Resource []string }
			}
			if err := json.Unmarshal([]byte(got), &doc); err != nil || len(doc.Statement) != 1 {
				t.Fatalf("not one statement: %v", err)
			}
			for _, r := range doc.Statement[0].Resource {
				if !strings.HasPrefix(r, "arn:"+tt.givenPartition+":s3:::"+tt.givenBucket+"/") {
					t.Errorf("resource %q is outside the connector's bucket", r)
				}
			}
		})
	}
	t.Run("refuses a policy over STS's limit", func(t *testing.T) {
		many := make([]string, 100)
		for i := range many {
			many[i] = strings.Repeat("p", 20) + string(rune('a'+i%26)) + "/" + strings.Repeat("q", i%7) + "/"
		}
		if _, err := SessionPolicy("aws", "b", many); err == nil {
			t.Error("SessionPolicy accepted a document STS would refuse")
		}
	})
}

const roleARN = "arn:aws:iam::123456789012:role/signgate-research"

// roleSigner signs with a session of roleARN from sts, on clock.
func roleSigner(t *testing.T, sts *stsfake.Server, clock signer.Clock, policy string, opts ...Option) *Signer {
	t.Helper()
	creds, err := AssumeRole(StaticCredentials(exampleKeyID, exampleSecret), RoleConfig{
		RoleARN: roleARN, ExternalID: "ext-42", SessionName: "signgate-test", Duration: 15 * time.Minute,
		Policy: policy, Region: "us-east-1", Endpoint: sts.URL,
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Bucket: "acme-research", Region: "us-east-1", Credentials: creds}, append([]Option{WithClock(clock)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformanceWithAssumedRole(t *testing.T) {
	signingTime, expiry := signertest.DateExpires("X-Amz-Date", "X-Amz-Expires")
	const life = 12 * time.Hour
	makeSigner := func(deny bool) func(*testing.T, signer.Clock) signer.Signer {
		return func(t *testing.T, clock signer.Clock) signer.Signer {
			sts := stsfake.Start("ASIAEXAMPLESESSION", "session-secret")
			t.Cleanup(sts.Close)
			// The suite's clock is in the past: the SDK's cache renews the
			// session on every call, and a fixed token keeps signatures
			// deterministic.
			sts.Now, sts.Lifetime, sts.SessionToken = clock, life, "FwoGZXIvYXdzFIXED"
			sts.Deny(deny)
			return roleSigner(t, sts, clock, "")
		}
	}
	signertest.Run(t, signertest.Harness{
		Provider:           "s3",
		Bucket:             "acme-research",
		MakeSigner:         makeSigner(false),
		MakeFailingSigner:  makeSigner(true),
		CredentialLifetime: life,
		Scheme:             "https",
		Host:               "acme-research.s3.us-east-1.amazonaws.com",
		SigningTime:        signingTime,
		Expiry:             expiry,
		SignedHeadersParam: "X-Amz-SignedHeaders",
		SignatureParam:     "X-Amz-Signature",
		DecisionIDSigned:   true,
	})
}

func TestAssumeRole(t *testing.T) {
	// The real time, so that the SDK's cache keeps a session until it
	// expires; the signer's clock then moves on its own.
	t0 := time.Now().UTC().Truncate(time.Second)
	var now atomic.Pointer[time.Time]
	now.Store(&t0)
	clock := func() time.Time { return *now.Load() }
	policy, err := SessionPolicy("aws", "acme-research", []string{"research/"})
	if err != nil {
		t.Fatal(err)
	}
	sts := stsfake.Start("ASIAEXAMPLESESSION", "session-secret")
	defer sts.Close()
	sts.Now, sts.Lifetime = clock, 2*time.Minute
	s := roleSigner(t, sts, clock, policy)
	g := signer.Grant{Key: "research/a.csv", Operation: signer.OpRead, TTL: 15 * time.Minute}

	t.Run("calls AssumeRole with the role, external id, duration and session policy", func(t *testing.T) {
		got, err := s.Sign(context.Background(), g)
		if err != nil {
			t.Fatal(err)
		}
		form, auth := sts.Last()
		want := map[string]string{"RoleArn": roleARN, "ExternalId": "ext-42", "RoleSessionName": "signgate-test", "DurationSeconds": "900", "Policy": policy}
		for k, v := range want {
			if form.Get(k) != v {
				t.Errorf("AssumeRole %s = %q, want %q", k, form.Get(k), v)
			}
		}
		if !strings.Contains(auth, "Credential="+exampleKeyID+"/") {
			t.Errorf("AssumeRole was not signed with the base credentials: %q", auth)
		}
		q := parseQuery(t, got.URL)
		if !strings.HasPrefix(q.Get("X-Amz-Credential"), "ASIAEXAMPLESESSION/") || q.Get("X-Amz-Security-Token") != "FwoGZXIvYXdzEXAMPLE1" {
			t.Errorf("URL not signed by the session: %s", got.URL)
		}
		if _, err := s.Sign(context.Background(), g); err != nil || sts.Calls.Load() != 1 {
			t.Errorf("a second URL made %d AssumeRole calls in all (%v), want the session reused", sts.Calls.Load(), err)
		}
		// The session lives 2 minutes: the URL is clamped to it.
		if want := t0.Add(2 * time.Minute); !got.ExpiresAt.Equal(want) || got.ClampedBy != signer.ClampedByCredential {
			t.Errorf("ExpiresAt %s (%q), want %s clamped by the credential", got.ExpiresAt, got.ClampedBy, want)
		}
	})
	t.Run("renews the session before it gets shorter than the minimum lifetime", func(t *testing.T) {
		calls := sts.Calls.Load()
		later := t0.Add(70 * time.Second) // 50s left, under the 60s minimum
		now.Store(&later)
		got, err := s.Sign(context.Background(), g)
		if err != nil {
			t.Fatal(err)
		}
		if sts.Calls.Load() != calls+1 {
			t.Errorf("%d AssumeRole calls, want one more than %d", sts.Calls.Load(), calls)
		}
		if q := parseQuery(t, got.URL); q.Get("X-Amz-Security-Token") == "FwoGZXIvYXdzEXAMPLE1" {
			t.Error("signed with the old session")
		}
		if want := later.Add(2 * time.Minute); !got.ExpiresAt.Equal(want) {
			t.Errorf("ExpiresAt %s, want the new session's %s", got.ExpiresAt, want)
		}
	})
	t.Run("gives no URL when AssumeRole is denied", func(t *testing.T) {
		sts.Deny(true)
		defer sts.Deny(false)
		gone := t0.Add(time.Hour)
		now.Store(&gone)
		got, err := s.Sign(context.Background(), g)
		if !errors.Is(err, signer.ErrUnavailable) || got.URL != "" {
			t.Fatalf("Sign = %q, %v; want no URL and ErrUnavailable", got.URL, err)
		}
	})
}

func parseQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}
