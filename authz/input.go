package authz

import (
	"github.com/open-policy-agent/opa/v1/ast"
)

// Input is the document the policy sees as `input`. It is built by the
// server's input builder, a pure function, and documented in docs/policy.md.
type Input struct {
	Subject Subject `json:"subject"`
	Action  Action  `json:"action"`
	Source  Source  `json:"source"`
	Time    string  `json:"time"` // RFC 3339, UTC
}

// Subject is the authenticated caller.
type Subject struct {
	ID string `json:"id"`
	// Principal is ID namespaced by how the caller authenticated:
	// "key:<subject>" for an API key, "jwt:<issuer>#<sub>" for a token, so
	// that an API key's subject and a token's sub never match each other.
	Principal  string         `json:"principal"`
	Teams      []string       `json:"teams"`
	AuthMethod string         `json:"auth_method"`
	Claims     map[string]any `json:"claims"`
}

// Action is what the caller asks for.
type Action struct {
	Team        string `json:"team"`
	Operation   string `json:"operation"`
	Object      string `json:"object"`
	ExpiresIn   int64  `json:"expires_in,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	// Size is the object size of a chunked upload (POST /v1/uploads).
	Size int64 `json:"size,omitempty"`
	// Form is true for a browser form upload (a POST policy).
	Form bool `json:"form,omitempty"`
}

// Source is where the request came from.
type Source struct {
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
}

// The input's keys, built once and shared by every input: OPA never
// mutates a key term, so each input need not allocate its own.
var (
	keyTeam        = ast.StringTerm("team")
	keyOperation   = ast.StringTerm("operation")
	keyObject      = ast.StringTerm("object")
	keyExpiresIn   = ast.StringTerm("expires_in")
	keyContentType = ast.StringTerm("content_type")
	keySize        = ast.StringTerm("size")
	keyForm        = ast.StringTerm("form")
	keySubject     = ast.StringTerm("subject")
	keyID          = ast.StringTerm("id")
	keyPrincipal   = ast.StringTerm("principal")
	keyTeams       = ast.StringTerm("teams")
	keyAuthMethod  = ast.StringTerm("auth_method")
	keyClaims      = ast.StringTerm("claims")
	keyAction      = ast.StringTerm("action")
	keySource      = ast.StringTerm("source")
	keyIP          = ast.StringTerm("ip")
	keyUserAgent   = ast.StringTerm("user_agent")
	keyTime        = ast.StringTerm("time")
)

// AST builds the input as an OPA value directly. This skips the JSON
// round trip that rego.EvalInput does for arbitrary Go values.
func (in *Input) AST() (ast.Value, error) {
	teams := make([]*ast.Term, len(in.Subject.Teams))
	for i, t := range in.Subject.Teams {
		teams[i] = ast.StringTerm(t)
	}
	claims := ast.NewObject()
	if len(in.Subject.Claims) > 0 {
		v, err := ast.InterfaceToValue(in.Subject.Claims)
		if err != nil {
			return nil, err
		}
		claims = v.(ast.Object)
	}
	action := ast.NewObject(
		ast.Item(keyTeam, ast.StringTerm(in.Action.Team)),
		ast.Item(keyOperation, ast.StringTerm(in.Action.Operation)),
		ast.Item(keyObject, ast.StringTerm(in.Action.Object)),
	)
	if in.Action.ExpiresIn != 0 {
		action.Insert(keyExpiresIn, ast.IntNumberTerm(int(in.Action.ExpiresIn)))
	}
	if in.Action.ContentType != "" {
		action.Insert(keyContentType, ast.StringTerm(in.Action.ContentType))
	}
	if in.Action.Size != 0 {
		action.Insert(keySize, ast.IntNumberTerm(int(in.Action.Size)))
	}
	if in.Action.Form {
		action.Insert(keyForm, ast.BooleanTerm(true))
	}
	return ast.NewObject(
		ast.Item(keySubject, ast.NewTerm(ast.NewObject(
			ast.Item(keyID, ast.StringTerm(in.Subject.ID)),
			ast.Item(keyPrincipal, ast.StringTerm(in.Subject.Principal)),
			ast.Item(keyTeams, ast.ArrayTerm(teams...)),
			ast.Item(keyAuthMethod, ast.StringTerm(in.Subject.AuthMethod)),
			ast.Item(keyClaims, ast.NewTerm(claims)),
		))),
		ast.Item(keyAction, ast.NewTerm(action)),
		ast.Item(keySource, ast.NewTerm(ast.NewObject(
			ast.Item(keyIP, ast.StringTerm(in.Source.IP)),
			ast.Item(keyUserAgent, ast.StringTerm(in.Source.UserAgent)),
		))),
		ast.Item(keyTime, ast.StringTerm(in.Time)),
	), nil
}
