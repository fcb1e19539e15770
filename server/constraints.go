package server

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/signer"
)

// binding is what a flow signs for a write once the constraints are
// applied: the fields of the grant, and the advisory constraints it leaves
// to the client's good will.
type binding struct {
	contentType string
	ctPrefix    bool
	contentMD5  string
	maxBytes    int64
	unenforced  []string
}

// bind decides, constraint by constraint, how flow f of signer sg makes the
// storage server enforce cs for a write that asked for contentType (and,
// for a chunked upload, size bytes). A constraint the flow cannot enforce
// is a 422 constraint_unenforceable unless the policy marked it advisory;
// a request that breaks a constraint is a 422 constraint_violated (the
// default policy denies it first).
func bind(sg signer.Signer, f signer.Flow, cs authz.Constraints, contentType string, size int64) (binding, *apiError) {
	b := binding{contentType: contentType}
	enf, _ := sg.(signer.Enforcer)
	can := func(c signer.Constraint) bool { return enf != nil && enf.Enforces(f, c) }
	if contentType != "" && !can(signer.ContentType) {
		return b, unbindableContentType(sg, f)
	}
	if !cs.LimitsWrites() && len(cs.Unknown) == 0 {
		return b, nil
	}
	var refused []string
	cannot := func(name string) {
		if cs.IsAdvisory(name) {
			b.unenforced = append(b.unenforced, name)
		} else {
			refused = append(refused, name)
		}
	}
	if cs.MaxBytes > 0 {
		switch {
		case size > cs.MaxBytes:
			return b, violated(fmt.Sprintf("size %d exceeds the policy's max_bytes of %d", size, cs.MaxBytes))
		case can(signer.MaxBytes):
			b.maxBytes = cs.MaxBytes
		default:
			cannot(string(signer.MaxBytes))
		}
	}
	if cs.ContentType != "" {
		matches := contentType == cs.ContentType || cs.ContentTypeIsPrefix() && strings.HasPrefix(contentType, cs.ContentType)
		switch {
		case contentType != "" && !matches:
			return b, violated(fmt.Sprintf("content_type %q does not satisfy the policy's content_type %q", contentType, cs.ContentType))
		case !can(signer.ContentType):
			cannot(string(signer.ContentType))
		case contentType != "":
			// The request's own type, which matches, is bound.
		case !cs.ContentTypeIsPrefix():
			b.contentType = cs.ContentType
		case f == signer.FlowForm:
			b.contentType, b.ctPrefix = cs.ContentType, true
		default:
			// A URL or an upload binds one exact type; a prefix needs the
			// client to say which type it sends.
			cannot(string(signer.ContentType))
		}
	}
	if cs.ContentMD5 != "" {
		if can(signer.ContentMD5) {
			b.contentMD5 = cs.ContentMD5
		} else {
			cannot(string(signer.ContentMD5))
		}
	}
	for _, u := range cs.Unknown {
		cannot(u.Name) // the parser let only advisory ones through
	}
	if len(refused) > 0 {
		slices.Sort(refused)
		return b, problem(http.StatusUnprocessableEntity, codeUnenforceable,
			fmt.Sprintf("the storage server cannot be made to enforce the policy's %s in this flow (%s %s); %s; no URL is issued",
				strings.Join(refused, ", "), sg.Provider(), f, fixHint(sg, f, refused)), nil)
	}
	slices.Sort(b.unenforced)
	return b, nil
}

func violated(detail string) *apiError {
	return problem(http.StatusUnprocessableEntity, codeConstraintViolated, detail, nil)
}
