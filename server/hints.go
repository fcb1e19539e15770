package server

import (
	"fmt"
	"net/http"
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

// unbindableContentType is the problem of a request content_type that flow
// f of sg cannot bind, naming the field and what to do instead.
func unbindableContentType(sg signer.Signer, f signer.Flow) *apiError {
	detail := fmt.Sprintf("content_type cannot be bound by %s in this flow (%s): leave content_type out", sg.Provider(), f)
	if sg.Provider() == "azure" {
		detail = "content_type cannot be bound by an Azure SAS, which signs no request header: leave content_type out, " +
			"and send x-ms-blob-content-type with the upload if the blob needs a type (Azure stores it but does not enforce it)"
	}
	return problem(http.StatusUnprocessableEntity, codeUnsupported, detail, nil)
}
