package s3

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/signgate/signgate/signer"
)

// shortLived returns a credential provider whose i-th retrieval (from 0)
// gives credentials under access key "AKID<i>" that expire lives[i] after
// at (the last entry repeats), and counts the retrievals.
func shortLived(at time.Time, calls *atomic.Int32, lives ...time.Duration) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		i := int(calls.Add(1) - 1)
		life := lives[min(i, len(lives)-1)]
		return aws.Credentials{
			AccessKeyID: "AKID" + strconv.Itoa(i), SecretAccessKey: "secret", SessionToken: "token",
			CanExpire: true, Expires: at.Add(life),
		}, nil
	})
}

func TestHonestExpiry(t *testing.T) {
	// The wall clock's second, so that the credential cache, which reads
	// the wall clock, sees the credentials as fresh.
	at := time.Now().UTC().Truncate(time.Second)
	tests := []struct {
		name        string
		givenLives  []time.Duration // nil: static credentials
		givenMin    time.Duration
		givenTTL    time.Duration
		wantSecs    int64
		wantBy      string
		wantKey     string
		wantCalls   int32
		wantErr     error
		wantNoClamp bool
	}{
		{name: "keeps the TTL of credentials that never expire", givenTTL: time.Hour, wantSecs: 3600},
		{name: "keeps the TTL of credentials that outlive it", givenLives: []time.Duration{2 * time.Hour}, givenTTL: time.Hour, wantSecs: 3600, wantKey: "AKID0", wantCalls: 1},
		{name: "cuts the TTL to what the credentials live", givenLives: []time.Duration{10 * time.Minute}, givenTTL: time.Hour, wantSecs: 600, wantBy: signer.ClampedByCredential, wantKey: "AKID0", wantCalls: 1},
		{name: "refreshes credentials that would live under a minute", givenLives: []time.Duration{30 * time.Second, 2 * time.Hour}, givenTTL: time.Hour, wantSecs: 3600, wantKey: "AKID1", wantCalls: 2},
		{name: "refreshes and still cuts to the new credentials' life", givenLives: []time.Duration{30 * time.Second, 20 * time.Minute}, givenTTL: time.Hour, wantSecs: 1200, wantBy: signer.ClampedByCredential, wantKey: "AKID1", wantCalls: 2},
		{name: "fails when a refresh does not help", givenLives: []time.Duration{30 * time.Second}, givenTTL: time.Hour, wantErr: signer.ErrCredentialExpiring, wantCalls: 2},
		{name: "honours a configured minimum", givenLives: []time.Duration{30 * time.Second}, givenMin: 10 * time.Second, givenTTL: time.Hour, wantSecs: 30, wantBy: signer.ClampedByCredential, wantKey: "AKID0", wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			creds := StaticCredentials(exampleKeyID, exampleSecret)
			if tt.givenLives != nil {
				creds = shortLived(at, &calls, tt.givenLives...)
			}
			s, err := New(Config{Bucket: "examplebucket", Region: "us-east-1", Credentials: creds},
				WithClock(func() time.Time { return at }), WithMinCredentialLifetime(tt.givenMin))
			if err != nil {
				t.Fatal(err)
			}
			for _, flow := range []string{"url", "form"} {
				calls.Store(0)
				s.creds.(*aws.CredentialsCache).Invalidate()
				expiresAt, by, query, err := signBoth(t, s, flow, tt.givenTTL)
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("%s: err = %v, want %v", flow, err, tt.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", flow, err)
				}
				if want := at.Add(time.Duration(tt.wantSecs) * time.Second); !expiresAt.Equal(want) || by != tt.wantBy {
					t.Errorf("%s: expires %s clamped by %q, want %s by %q", flow, expiresAt, by, want, tt.wantBy)
				}
				if tt.wantKey != "" && query["key"] != tt.wantKey {
					t.Errorf("%s: signed with %q, want %q", flow, query["key"], tt.wantKey)
				}
				if flow == "url" && query["expires"] != strconv.FormatInt(tt.wantSecs, 10) {
					t.Errorf("X-Amz-Expires = %s, want %d", query["expires"], tt.wantSecs)
				}
				if tt.givenLives != nil && calls.Load() != tt.wantCalls {
					t.Errorf("%s: %d retrievals, want %d", flow, calls.Load(), tt.wantCalls)
				}
			}
		})
	}
}

// signBoth signs a write URL or a POST policy and reads back its expiry,
// clamp reason, signing access key and (for a URL) X-Amz-Expires.
func signBoth(t *testing.T, s *Signer, flow string, ttl time.Duration) (time.Time, string, map[string]string, error) {
	t.Helper()
	ctx := context.Background()
	if flow == "url" {
		signed, err := s.Sign(ctx, signer.Grant{Key: "k", Operation: signer.OpWrite, TTL: ttl})
		if err != nil {
			return time.Time{}, "", nil, err
		}
		u, _ := url.Parse(signed.URL)
		cred := u.Query().Get("X-Amz-Credential")
		return signed.ExpiresAt, signed.ClampedBy, map[string]string{"key": cred[:len("AKID0")], "expires": u.Query().Get("X-Amz-Expires")}, nil
	}
	form, err := s.SignForm(ctx, signer.FormGrant{Key: "k", TTL: ttl})
	if err != nil {
		return time.Time{}, "", nil, err
	}
	policy := decodePolicy(t, form.Fields["policy"])
	if exp, _ := time.Parse(time.RFC3339, policy.Expiration); !exp.Equal(form.ExpiresAt) {
		t.Errorf("policy expiration %s, ExpiresAt %s", policy.Expiration, form.ExpiresAt)
	}
	return form.ExpiresAt, form.ClampedBy, map[string]string{"key": form.Fields["X-Amz-Credential"][:len("AKID0")]}, nil
}

type postPolicy struct {
	Expiration string `json:"expiration"`
	Conditions []any  `json:"conditions"`
}

func decodePolicy(t *testing.T, b64 string) postPolicy {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	var p postPolicy
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("policy %s: %v", raw, err)
	}
	return p
}

// TestStartUploadChecksTheCredentialFirst: an upload whose credential
// cannot live the minimum fails before anything is created on the server
// (the endpoint is unreachable, and is never asked).
func TestStartUploadChecksTheCredentialFirst(t *testing.T) {
	at := time.Now().UTC().Truncate(time.Second)
	var calls atomic.Int32
	s, err := New(Config{Bucket: "examplebucket", Region: "us-east-1", Endpoint: "http://127.0.0.1:9",
		Credentials: shortLived(at, &calls, 30*time.Second)}, WithClock(func() time.Time { return at }))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.StartUpload(context.Background(), signer.UploadGrant{Key: "k", Size: 1, TTL: time.Hour})
	if !errors.Is(err, signer.ErrCredentialExpiring) {
		t.Fatalf("err = %v, want ErrCredentialExpiring", err)
	}
}
