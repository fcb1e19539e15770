package server

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/signgate/signgate/signer"
)

// constraints are a decision's limits on a write (decision.constraints),
// parsed. signgate either makes the storage server enforce each one, or
// refuses to sign, unless the policy marks it advisory.
type constraints struct {
	maxBytes    int64
	contentType string // exact, or a prefix when it ends with "/"
	ctPrefix    bool
	contentMD5  string
	advisory    map[string]bool
	unknown     []string // names signgate cannot enforce anywhere
}

func (cs constraints) empty() bool {
	return cs.maxBytes == 0 && cs.contentType == "" && cs.contentMD5 == "" && len(cs.unknown) == 0
}

// parseConstraints reads decision.constraints. A malformed value is the
// policy's fault and fails closed; a name signgate does not know is kept,
// so that it is refused unless advisory rather than silently dropped.
func parseConstraints(m map[string]any) (constraints, error) {
	cs := constraints{advisory: map[string]bool{}}
	for name, v := range m {
		switch name {
		case string(signer.MaxBytes):
			n, ok := v.(json.Number)
			i, err := n.Int64()
			if !ok || err != nil || i < 1 {
				return cs, fmt.Errorf("decision.constraints.max_bytes: want a positive integer, got %v", v)
			}
			cs.maxBytes = i
		case string(signer.ContentType):
			s, ok := v.(string)
			if !ok || s == "" {
				return cs, fmt.Errorf("decision.constraints.content_type: want a media type or a prefix ending in /, got %v", v)
			}
			if strings.HasSuffix(s, "/") {
				cs.contentType, cs.ctPrefix = s, true
			} else if _, _, err := mime.ParseMediaType(s); err != nil {
				return cs, fmt.Errorf("decision.constraints.content_type: %q is not a media type", s)
			} else {
				cs.contentType = s
			}
		case string(signer.ContentMD5):
			s, ok := v.(string)
			if raw, err := base64.StdEncoding.DecodeString(s); !ok || err != nil || len(raw) != md5.Size {
				return cs, fmt.Errorf("decision.constraints.content_md5: want a base64 MD5 digest, got %v", v)
			}
			cs.contentMD5 = s
		case "advisory":
			names, err := stringList(v)
			if err != nil {
				return cs, fmt.Errorf("decision.constraints.advisory: %v", err)
			}
			for _, n := range names {
				cs.advisory[n] = true
			}
		case ipRangeConstraint:
			// Not a limit on what is written: networkBinding handles it
			// for every operation.
		default:
			cs.unknown = append(cs.unknown, name)
		}
	}
	sort.Strings(cs.unknown)
	return cs, nil
}

func stringList(v any) ([]string, error) {
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("want a list of constraint names, got %T", v)
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, ok := it.(string)
		if !ok {
			return nil, fmt.Errorf("want a list of constraint names, got an item %T", it)
		}
		out = append(out, s)
	}
	return out, nil
}

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
func bind(sg signer.Signer, f signer.Flow, cs constraints, contentType string, size int64) (binding, *Error) {
	b := binding{contentType: contentType}
	if cs.empty() {
		return b, nil
	}
	enf, _ := sg.(signer.Enforcer)
	can := func(c signer.Constraint) bool { return enf != nil && enf.Enforces(f, c) }
	var refused []string
	cannot := func(name string) {
		if cs.advisory[name] {
			b.unenforced = append(b.unenforced, name)
		} else {
			refused = append(refused, name)
		}
	}
	if cs.maxBytes > 0 {
		switch {
		case size > cs.maxBytes:
			return b, violated(fmt.Sprintf("size %d exceeds the policy's max_bytes of %d", size, cs.maxBytes))
		case can(signer.MaxBytes):
			b.maxBytes = cs.maxBytes
		default:
			cannot(string(signer.MaxBytes))
		}
	}
	if cs.contentType != "" {
		matches := contentType == cs.contentType || cs.ctPrefix && strings.HasPrefix(contentType, cs.contentType)
		switch {
		case contentType != "" && !matches:
			return b, violated(fmt.Sprintf("content_type %q does not satisfy the policy's content_type %q", contentType, cs.contentType))
		case !can(signer.ContentType):
			cannot(string(signer.ContentType))
		case contentType != "":
			// The request's own type, which matches, is bound.
		case !cs.ctPrefix:
			b.contentType = cs.contentType
		case f == signer.FlowForm:
			b.contentType, b.ctPrefix = cs.contentType, true
		default:
			// A URL or an upload binds one exact type; a prefix needs the
			// client to say which type it sends.
			cannot(string(signer.ContentType))
		}
	}
	if cs.contentMD5 != "" {
		if can(signer.ContentMD5) {
			b.contentMD5 = cs.contentMD5
		} else {
			cannot(string(signer.ContentMD5))
		}
	}
	for _, name := range cs.unknown {
		cannot(name)
	}
	if len(refused) > 0 {
		slices.Sort(refused)
		return b, problem(http.StatusUnprocessableEntity, CodeUnenforceable,
			fmt.Sprintf("the storage server cannot be made to enforce the policy's %s in this flow (%s); no URL is issued",
				strings.Join(refused, ", "), sg.Provider()), nil)
	}
	slices.Sort(b.unenforced)
	return b, nil
}

func violated(detail string) *Error {
	return problem(http.StatusUnprocessableEntity, CodeConstraintViolated, detail, nil)
}
