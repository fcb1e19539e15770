package signertest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/signgate/signgate/signer"
)

// testForm checks a provider's browser form (POST policy), or that it has
// none: then the flow enforces nothing, so no constraint is taken for
// enforced.
func testForm(t *testing.T, h Harness) {
	s := h.MakeSigner(t, fixedClock)
	fs, ok := s.(signer.FormSigner)
	if !ok {
		if enf, ok := s.(signer.Enforcer); ok {
			for _, c := range []signer.Constraint{signer.MaxBytes, signer.ContentType, signer.ContentMD5} {
				if enf.Enforces(signer.FlowForm, c) {
					t.Errorf("%s has no form, yet claims to enforce %s in one", h.Provider, c)
				}
			}
		}
		return
	}
	t.Run("signs a policy for the key, ending TTL after the clock's second", func(t *testing.T) {
		g := signer.FormGrant{Key: "up/form photo.png", TTL: 15 * time.Minute, MaxBytes: 1024, ContentType: "image/", ContentTypePrefix: true}
		before := time.Now()
		form, err := fs.SignForm(context.Background(), g)
		after := time.Now()
		if err != nil {
			t.Fatalf("SignForm: %v", err)
		}
		u := parse(t, form.URL)
		if u.Scheme != h.Scheme || u.Host != h.Host || strings.TrimSuffix(u.Path, "/") != h.PathPrefix {
			t.Errorf("form URL %s, want %s://%s%s", form.URL, h.Scheme, h.Host, h.PathPrefix)
		}
		if form.Fields["key"] != g.Key {
			t.Errorf("fields %v, want key %q", form.Fields, g.Key)
		}
		var policy string
		for k, v := range form.Fields {
			if strings.EqualFold(k, "policy") {
				policy = v
			}
		}
		if policy == "" {
			t.Errorf("fields %v carry no policy", form.Fields)
		}
		if h.WallClock {
			lo, hi := before.Truncate(time.Second).Add(g.TTL), after.Add(g.TTL)
			if form.ExpiresAt.Before(lo) || form.ExpiresAt.After(hi) {
				t.Errorf("ExpiresAt = %s, want the real time + %s", form.ExpiresAt, g.TTL)
			}
		} else if want := fixedNow.Truncate(time.Second).Add(g.TTL); !form.ExpiresAt.Equal(want) {
			t.Errorf("ExpiresAt = %s, want clock (truncated) + %s = %s", form.ExpiresAt, g.TTL, want)
		}
	})
	t.Run("rejects invalid grants", func(t *testing.T) {
		for name, g := range map[string]signer.FormGrant{
			"empty key":                 {TTL: time.Minute},
			"TTL under a second":        {Key: "k", TTL: 999 * time.Millisecond},
			"TTL over seven days":       {Key: "k", TTL: signer.MaxTTL + time.Second},
			"negative max bytes":        {Key: "k", TTL: time.Minute, MaxBytes: -1},
			"a prefix without its type": {Key: "k", TTL: time.Minute, ContentTypePrefix: true},
		} {
			form, err := fs.SignForm(context.Background(), g)
			if !errors.Is(err, signer.ErrInvalidGrant) {
				t.Errorf("%s: err = %v, want signer.ErrInvalidGrant", name, err)
			}
			if form.URL != "" || form.Fields != nil {
				t.Errorf("%s: Form = %+v, want the zero value with an error", name, form)
			}
		}
	})
	t.Run("fails on a cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		form, err := fs.SignForm(ctx, signer.FormGrant{Key: "k", TTL: time.Minute})
		if !errors.Is(err, context.Canceled) || form.URL != "" {
			t.Errorf("err = %v, form %+v, want context.Canceled and no form", err, form)
		}
	})
}

// testUpload checks what every chunked upload flow refuses before it
// reaches the storage server: invalid grants, impossible plans and a
// cancelled context. (The flows themselves run against real servers in
// tests/e2e.)
func testUpload(t *testing.T, h Harness) {
	up, ok := h.MakeSigner(t, fixedClock).(signer.Uploader)
	if !ok {
		return
	}
	const mib = 1 << 20
	tests := []struct {
		name    string
		given   signer.UploadGrant
		wantErr error
	}{
		{"empty key", signer.UploadGrant{Size: mib, TTL: time.Minute}, signer.ErrInvalidGrant},
		{"TTL under a second", signer.UploadGrant{Key: "k", Size: mib, TTL: 999 * time.Millisecond}, signer.ErrInvalidGrant},
		{"TTL over seven days", signer.UploadGrant{Key: "k", Size: mib, TTL: signer.MaxTTL + time.Second}, signer.ErrInvalidGrant},
		{"decision id with a reserved character", signer.UploadGrant{Key: "k", Size: mib, TTL: time.Minute, DecisionID: "a&b"}, signer.ErrInvalidGrant},
		{"an object over 5 TiB", signer.UploadGrant{Key: "k", Size: 5<<40 + 1, TTL: time.Minute}, signer.ErrInvalidPlan},
		{"more than 10,000 parts", signer.UploadGrant{Key: "k", Size: 10001 * 5 * mib, PartSize: 5 * mib, TTL: time.Minute}, signer.ErrInvalidPlan},
	}
	for _, tt := range tests {
		t.Run("rejects "+tt.name, func(t *testing.T) {
			u, err := up.StartUpload(context.Background(), tt.given)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if u.Parts != nil || u.Complete != nil || u.Start != nil {
				t.Errorf("Upload = %+v, want the zero value with an error", u)
			}
		})
	}
	t.Run("fails on a cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		u, err := up.StartUpload(ctx, signer.UploadGrant{Key: "k", Size: 10 * mib, TTL: time.Minute})
		if !errors.Is(err, context.Canceled) || u.Parts != nil {
			t.Errorf("err = %v, upload %+v, want context.Canceled and no upload", err, u)
		}
	})
}
