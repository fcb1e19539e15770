package server

import (
	"fmt"
	"net/http"
	"net/netip"

	"github.com/signgate/signgate/signer"
)

// ipRangeConstraint is the decision constraint that limits a grant to the
// client network the policy checked (decision.constraints.ip_range).
const ipRangeConstraint = "ip_range"

// Who enforces a grant's network range.
const (
	EnforcedByStorage  = "storage"  // inside the URL's signature (Azure sip)
	EnforcedBySigngate = "signgate" // only at issue time: the URL works from anywhere
)

// NetworkBinding tells the client which network a URL was issued for.
type NetworkBinding struct {
	IPRange    string `json:"ip_range"`
	EnforcedBy string `json:"enforced_by"`
}

// networkBinding reads decision.constraints.ip_range. A signer whose URLs
// can carry the range gets it in the grant; otherwise the range was
// enforced by the policy at issue time only, and the response says so
// rather than refusing: S3 and GCS URLs cannot carry a client IP, and the
// bucket-side control (signgate netpolicy) closes that gap.
func networkBinding(sg signer.Signer, c map[string]any, urlFlow bool) (netip.Prefix, *NetworkBinding, *Error) {
	v, ok := c[ipRangeConstraint]
	if !ok {
		return netip.Prefix{}, nil, nil
	}
	s, _ := v.(string)
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, nil, problem(http.StatusInternalServerError, CodePolicyError,
			"the policy could not decide; the request is denied", fmt.Errorf("decision.constraints.ip_range: %v is not a CIDR", v))
	}
	p = p.Masked()
	nb := &NetworkBinding{IPRange: p.String(), EnforcedBy: EnforcedBySigngate}
	if b, ok := sg.(signer.IPBinder); ok && urlFlow && b.BindsIPRange(p) {
		nb.EnforcedBy = EnforcedByStorage
		return p, nb, nil
	}
	return netip.Prefix{}, nb, nil
}
