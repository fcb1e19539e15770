package azblob_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/azblob"
)

var blocksNow = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func newBlockSigner(t *testing.T) *azblob.Signer {
	t.Helper()
	s, err := azblob.New(azblob.Config{Container: "images", Endpoint: "http://127.0.0.1:10000/devstoreaccount1", AccountName: devAccount, AccountKey: devKey},
		azblob.WithClock(func() time.Time { return blocksNow }))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStartUploadPlansBlocksUnderOneBlobSAS(t *testing.T) {
	s := newBlockSigner(t)
	up, err := s.StartUpload(context.Background(), signer.UploadGrant{Key: "web/a b.bin", Size: 12 << 20, PartSize: 5 << 20, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if up.Flow != signer.FlowAzureBlocks || len(up.UploadID) != 16 || up.Start != nil || up.Abort != nil || !up.ExpiresAt.Equal(blocksNow.Add(time.Hour)) {
		t.Fatalf("upload %s %q expires %s", up.Flow, up.UploadID, up.ExpiresAt)
	}
	seen := map[string]bool{}
	var ids []string
	for _, p := range up.Parts {
		raw, err := base64.StdEncoding.DecodeString(p.BlockID)
		if err != nil || len(p.BlockID) != 16 || len(raw) != 12 || seen[p.BlockID] {
			t.Fatalf("part %d: block id %q (%v): want 16 base64 characters, unique", p.Number, p.BlockID, err)
		}
		seen[p.BlockID] = true
		ids = append(ids, p.BlockID)
		u, err := url.Parse(p.URL)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if u.EscapedPath() != "/devstoreaccount1/images/web/a%20b.bin" || p.Method != "PUT" ||
			q.Get("comp") != "block" || q.Get("blockid") != p.BlockID {
			t.Errorf("part %d: %s %s", p.Number, p.Method, p.URL)
		}
		wantSAS(t, q)
	}
	u, err := url.Parse(up.Complete.URL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Query().Get("comp") != "blocklist" || up.Complete.Method != "PUT" {
		t.Errorf("complete %s %s", up.Complete.Method, up.Complete.URL)
	}
	wantSAS(t, u.Query())
	wantBody := `<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>` + strings.Join(ids, "</Latest><Latest>") + `</Latest></BlockList>`
	if up.Complete.Body != wantBody {
		t.Errorf("body %s\nwant %s", up.Complete.Body, wantBody)
	}
}

// wantSAS checks the blob SAS every URL of the flow carries: create and
// write on this one blob, until the grant's expiry.
func wantSAS(t *testing.T, q url.Values) {
	t.Helper()
	if q.Get("sp") != "cw" || q.Get("sr") != "b" || q.Get("se") != "2026-11-27T11:00:00Z" || q.Get("sig") == "" {
		t.Errorf("SAS sp=%s sr=%s se=%s, want cw on the blob until 11:00", q.Get("sp"), q.Get("sr"), q.Get("se"))
	}
}

func TestStartUploadRefuses(t *testing.T) {
	s := newBlockSigner(t)
	tests := []struct {
		name  string
		given signer.UploadGrant
		want  error
	}{
		{"a block over 4000 MiB", signer.UploadGrant{Key: "k", Size: 5 << 30, PartSize: 4001 << 20, TTL: time.Hour}, signer.ErrInvalidPlan},
		{"a content type a SAS cannot bind", signer.UploadGrant{Key: "k", Size: 1, TTL: time.Hour, ContentType: "image/png"}, signer.ErrUnsupported},
		{"a grant without a key", signer.UploadGrant{Size: 1, TTL: time.Hour}, signer.ErrInvalidGrant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.StartUpload(context.Background(), tt.given); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestAzureEnforcesNoConstraint(t *testing.T) {
	if _, ok := any(newBlockSigner(t)).(signer.Enforcer); ok {
		t.Fatal("an Azure SAS binds no size, content type or MD5; the signer must not claim to enforce one")
	}
	if _, ok := any(newBlockSigner(t)).(signer.FormSigner); ok {
		t.Fatal("Azure Blob has no POST policy")
	}
}

func TestSignRefusesContentMD5(t *testing.T) {
	_, err := newBlockSigner(t).Sign(context.Background(), signer.Grant{Key: "k", Operation: signer.OpWrite, TTL: time.Minute, ContentMD5: "1B2M2Y8AsgTpgAmY7PhCfg=="})
	if !errors.Is(err, signer.ErrUnsupported) {
		t.Fatalf("err = %v, want ErrUnsupported", err)
	}
}
