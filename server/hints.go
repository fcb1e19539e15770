package server

import (
	"fmt"
	"strings"

	"github.com/signgate/signgate/signer"
)

// flowHints name each flow as a client asks for it.
var flowHints = []struct {
	flow signer.Flow
	ask  string
}{
	{signer.FlowURL, `a PUT URL ("form": false)`},
	{signer.FlowForm, `"form": true`},
	{signer.FlowUpload, "POST /v1/uploads"},
}

// fixHint says how the client can get what flow f of sg refused: the
// other flows of sg that enforce every refused constraint, or that no
// flow can and the policy would have to mark them advisory. A problem
// names its fix (docs/api.md).
func fixHint(sg signer.Signer, f signer.Flow, refused []string) string {
	enf, _ := sg.(signer.Enforcer)
	var ways []string
	for _, h := range flowHints {
		if h.flow == f || enf == nil {
			continue
		}
		all := true
		for _, name := range refused {
			all = all && enf.Enforces(h.flow, signer.Constraint(name))
		}
		if all {
			ways = append(ways, h.ask)
		}
	}
	var hint string
	if len(ways) > 0 {
		hint = "use " + strings.Join(ways, " or ")
	} else {
		hint = fmt.Sprintf("no flow of %s can enforce it; the policy may mark it advisory", sg.Provider())
	}
	// A content type prefix is bound by a PUT URL or an upload once the
	// request says which type it sends.
	for _, name := range refused {
		if name == string(signer.ContentType) && enf != nil && enf.Enforces(f, signer.ContentType) {
			hint = `send the request's "content_type" (within the policy's prefix), or ` + hint
		}
	}
	return hint
}
