package authz

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/open-policy-agent/opa/v1/bundle"
)

// SigningKeyID names the key that verified b's signature: the key id that
// vc names (OPA then ignores the token's), otherwise the token's "kid"
// header, otherwise its deprecated "keyid" claim. It is empty for an
// unsigned bundle. It reads a token that OPA has already verified.
func SigningKeyID(b *bundle.Bundle, vc *bundle.VerificationConfig) string {
	if len(b.Signatures.Signatures) == 0 {
		return ""
	}
	if vc != nil && vc.KeyID != "" {
		return vc.KeyID
	}
	msg, err := jws.Parse([]byte(b.Signatures.Signatures[0]), jws.WithCompact())
	if err != nil || len(msg.Signatures()) == 0 {
		return ""
	}
	if kid, ok := msg.Signatures()[0].ProtectedHeaders().KeyID(); ok && kid != "" {
		return kid
	}
	var claims struct {
		KeyID string `json:"keyid"`
	}
	if json.Unmarshal(msg.Payload(), &claims) == nil {
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
