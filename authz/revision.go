package authz

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/bundle"
)

// SigningKeyID names the key that verified b's signature: the key id that
// vc names (OPA then ignores the token's), otherwise the token's "kid"
// header, otherwise its deprecated "keyid" claim. It is empty for an
// unsigned bundle.
func SigningKeyID(b *bundle.Bundle, vc *bundle.VerificationConfig) string {
	if len(b.Signatures.Signatures) == 0 {
		return ""
	}
	if vc != nil && vc.KeyID != "" {
		return vc.KeyID
	}
	parts := strings.Split(b.Signatures.Signatures[0], ".")
	if len(parts) != 3 {
		return ""
	}
	var hdr struct {
		KID string `json:"kid"`
	}
	var claims struct {
		KeyID string `json:"keyid"`
	}
	if raw, err := base64.RawURLEncoding.DecodeString(parts[0]); err == nil && json.Unmarshal(raw, &hdr) == nil && hdr.KID != "" {
		return hdr.KID
	}
	if raw, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil && json.Unmarshal(raw, &claims) == nil {
		return claims.KeyID
	}
	return ""
}

// Revision names a bundle: its manifest revision when set, otherwise a
// digest of its modules and data, so that two different policies never
// share a revision.
func Revision(b *bundle.Bundle) string {
	if b.Manifest.Revision != "" {
		return b.Manifest.Revision
	}
	h := sha256.New()
	mods := make([]bundle.ModuleFile, len(b.Modules))
	copy(mods, b.Modules)
	sort.Slice(mods, func(i, j int) bool { return mods[i].Path < mods[j].Path })
	for _, m := range mods {
		fmt.Fprintf(h, "%s\x00%d\x00", m.Path, len(m.Raw))
		h.Write(m.Raw)
	}
	fmt.Fprintf(h, "%v", b.Data) // fmt prints maps with sorted keys
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
}
