package server

import (
	"net/netip"

	"github.com/signgate/signgate/signer"
)

// Who enforces a grant's network range.
const (
	enforcedByStorage  = "storage"  // inside the URL's signature (Azure sip)
	enforcedBySigngate = "signgate" // only at issue time: the URL works from anywhere
)

// networkBinding tells the client which network a URL was issued for.
type networkBinding struct {
	IPRange    string `json:"ip_range"`
	EnforcedBy string `json:"enforced_by"`
}

// bindNetwork binds the grant's client network range
// (decision.constraints.ip_range), when it has one. A signer whose URLs
// can carry the range gets it in the grant; otherwise the range was
// enforced by the policy at issue time only, and the response says so
// rather than refusing: S3 and GCS URLs cannot carry a client IP, and the
// bucket-side control (signgate netpolicy) closes that gap.
func bindNetwork(sg signer.Signer, p netip.Prefix, urlFlow bool) (netip.Prefix, *networkBinding) {
	if !p.IsValid() {
		return netip.Prefix{}, nil
	}
	nb := &networkBinding{IPRange: p.String(), EnforcedBy: enforcedBySigngate}
	if b, ok := sg.(signer.IPBinder); ok && urlFlow && b.BindsIPRange(p) {
		nb.EnforcedBy = enforcedByStorage
		return p, nb
	}
	return netip.Prefix{}, nb
}
