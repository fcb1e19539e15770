package authz

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/open-policy-agent/opa/v1/ast"
	"mime"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/signgate/signgate/signer"
)

// Decision is the typed form of data.signgate.authz.decision. An allowing
// decision is a grant: the connector that signs, the key, the operation, the
// lifetime and the constraints, each already checked. Code after Decide
// reads these fields and never the policy's raw document.
type Decision struct {
	Allow       bool          `json:"allow"`
	Reasons     []string      `json:"reasons"`
	Connector   string        `json:"connector,omitempty"`
	Key         string        `json:"key,omitempty"`
	Operation   string        `json:"operation,omitempty"`
	TTL         time.Duration `json:"-"`
	Constraints Constraints   `json:"constraints,omitzero"`
	Revision    string        `json:"revision"`
	// InputAST is the input document exactly as the policy evaluated it;
	// nil when nothing was evaluated. The decision record reuses it rather
	// than building the document a second time.
	InputAST ast.Value `json:"-"`
}

// TTLSeconds is the granted lifetime in whole seconds.
func (d Decision) TTLSeconds() int64 { return int64(d.TTL / time.Second) }

// Names of the constraints signgate knows (decision.constraints).
const (
	ConstraintIPRange     = "ip_range"
	ConstraintMaxBytes    = string(signer.MaxBytes)
	ConstraintContentType = string(signer.ContentType)
	ConstraintContentMD5  = string(signer.ContentMD5)
	ConstraintAdvisory    = "advisory"
)

// Constraints are a grant's limits (decision.constraints), parsed. IPRange
// applies to every operation; MaxBytes, ContentType and ContentMD5 limit
// what a write uploads, and a read or a delete has nothing they could
// limit. A constraint signgate does not know is refused by the parser
// unless the policy lists it in advisory; the ones so listed are kept in
// Unknown, so that the client can be told they went unenforced.
type Constraints struct {
	IPRange     netip.Prefix // masked; not valid when the policy set none
	MaxBytes    int64        // 0: no limit
	ContentType string       // an exact media type, or a prefix ending in "/"
	ContentMD5  string       // base64 MD5 digest
	Advisory    []string     // sorted names that may go unenforced
	Unknown     []Unknown    // sorted by name; every one is advisory
}

// Unknown is an advisory constraint that signgate does not know, with the
// policy's value as JSON, kept for the decision's record.
type Unknown struct {
	Name  string
	Value json.RawMessage
}

// IsZero reports whether the policy set no constraint at all.
func (c Constraints) IsZero() bool {
	return !c.IPRange.IsValid() && c.MaxBytes == 0 && c.ContentType == "" && c.ContentMD5 == "" &&
		len(c.Advisory) == 0 && len(c.Unknown) == 0
}

// LimitsWrites reports whether c limits what a write may upload.
func (c Constraints) LimitsWrites() bool {
	return c.MaxBytes != 0 || c.ContentType != "" || c.ContentMD5 != ""
}

// ContentTypeIsPrefix reports whether ContentType is a prefix ("image/")
// rather than one media type.
func (c Constraints) ContentTypeIsPrefix() bool { return strings.HasSuffix(c.ContentType, "/") }

// IsAdvisory reports whether the policy lets the named constraint go
// unenforced rather than refuse the request.
func (c Constraints) IsAdvisory(name string) bool {
	_, ok := slices.BinarySearch(c.Advisory, name)
	return ok
}

// UnknownNames are the names of the Unknown constraints.
func (c Constraints) UnknownNames() []string {
	out := make([]string, len(c.Unknown))
	for i, u := range c.Unknown {
		out[i] = u.Name
	}
	return out
}

// Document is c as the policy wrote it, as JSON-like Go values (maps,
// []any, json.Number), for /v1/decide and the decision record.
func (c Constraints) Document() map[string]any {
	m := map[string]any{}
	if c.IPRange.IsValid() {
		m[ConstraintIPRange] = c.IPRange.String()
	}
	if c.MaxBytes != 0 {
		m[ConstraintMaxBytes] = json.Number(fmt.Sprint(c.MaxBytes))
	}
	if c.ContentType != "" {
		m[ConstraintContentType] = c.ContentType
	}
	if c.ContentMD5 != "" {
		m[ConstraintContentMD5] = c.ContentMD5
	}
	if len(c.Advisory) > 0 {
		adv := make([]any, len(c.Advisory))
		for i, a := range c.Advisory {
			adv[i] = a
		}
		m[ConstraintAdvisory] = adv
	}
	for _, u := range c.Unknown {
		var v any
		dec := json.NewDecoder(strings.NewReader(string(u.Value)))
		dec.UseNumber()
		if dec.Decode(&v) == nil {
			m[u.Name] = v
		}
	}
	return m
}

// MarshalJSON writes c as the policy wrote it.
func (c Constraints) MarshalJSON() ([]byte, error) { return json.Marshal(c.Document()) }

// Document is d as the policy wrote it, as JSON-like Go values, for the
// decision record.
func (d *Decision) Document() map[string]any {
	reasons := make([]any, len(d.Reasons))
	for i, r := range d.Reasons {
		reasons[i] = r
	}
	doc := map[string]any{"allow": d.Allow, "reasons": reasons}
	if d.Allow {
		doc["connector"], doc["key"], doc["operation"] = d.Connector, d.Key, d.Operation
		doc["ttl_seconds"] = json.Number(fmt.Sprint(d.TTLSeconds()))
	}
	if !d.Constraints.IsZero() {
		doc["constraints"] = d.Constraints.Document()
	}
	return doc
}

// ObjectTooLongError is an allowing decision whose key, the team's prefix
// plus the requested object, is longer than any provider accepts. The
// request, not the policy, is at fault: MaxObjectBytes is the longest
// object the team's prefix leaves room for.
type ObjectTooLongError struct {
	Team           string
	KeyBytes       int
	MaxObjectBytes int
}

func (e *ObjectTooLongError) Error() string {
	return fmt.Sprintf("authz: the key for team %q would be %d bytes, over the limit of %d; the object may be at most %d bytes",
		e.Team, e.KeyBytes, signer.MaxKeyBytes, e.MaxObjectBytes)
}

// parseDecision maps a result set onto a Decision, failing closed on
// anything but exactly one well-formed object: every error wraps
// ErrPolicy, except an ObjectTooLongError. A denying decision only needs
// allow and reasons; an allowing one must name a connector, a valid key,
// the requested operation and a positive TTL, and its constraints must be
// well formed and either known or advisory.
func parseDecision(rs rego.ResultSet, in *Input) (Decision, error) {
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return Decision{}, fmt.Errorf("%w: decision is undefined (%d results)", ErrPolicy, len(rs))
	}
	obj, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		return Decision{}, fmt.Errorf("%w: decision is %T, not an object", ErrPolicy, rs[0].Expressions[0].Value)
	}
	var d Decision
	allow, ok := obj["allow"].(bool)
	if !ok {
		return Decision{}, fmt.Errorf("%w: decision.allow is missing or not a boolean", ErrPolicy)
	}
	reasons, err := stringList(obj["reasons"])
	if err != nil {
		return Decision{}, fmt.Errorf("%w: decision.reasons: %v", ErrPolicy, err)
	}
	d.Reasons = reasons
	if c, ok := obj["constraints"]; ok {
		if d.Constraints, err = parseConstraints(c); err != nil {
			return Decision{}, fmt.Errorf("%w: decision.constraints%v", ErrPolicy, err)
		}
	}
	if !allow {
		if len(d.Reasons) == 0 {
			d.Reasons = []string{"denied"}
		}
		return d, nil
	}
	d.Connector, _ = obj["connector"].(string)
	d.Key, _ = obj["key"].(string)
	d.Operation, _ = obj["operation"].(string)
	switch {
	case d.Connector == "":
		return Decision{}, fmt.Errorf("%w: allow without a connector", ErrPolicy)
	case d.Key == "":
		return Decision{}, fmt.Errorf("%w: allow without a key", ErrPolicy)
	case d.Operation != in.Action.Operation:
		return Decision{}, fmt.Errorf("%w: decision operation %q differs from the request's %q", ErrPolicy, d.Operation, in.Action.Operation)
	}
	if err := signer.ValidateKey(d.Key); err != nil {
		obj := in.Action.Object
		if len(d.Key) > signer.MaxKeyBytes && strings.HasSuffix(d.Key, obj) && len(obj) <= signer.MaxKeyBytes {
			prefix := len(d.Key) - len(obj)
			return Decision{}, &ObjectTooLongError{Team: in.Action.Team, KeyBytes: len(d.Key), MaxObjectBytes: max(signer.MaxKeyBytes-prefix, 0)}
		}
		return Decision{}, fmt.Errorf("%w: decision.key: %v", ErrPolicy, err)
	}
	ttl, err := positiveInt(obj["ttl_seconds"], maxTTLSeconds)
	if err != nil {
		return Decision{}, fmt.Errorf("%w: decision.ttl_seconds: %v", ErrPolicy, err)
	}
	d.TTL = time.Duration(ttl) * time.Second
	d.Allow = true
	return d, nil
}

// parseConstraints reads decision.constraints. Its errors start with the
// path below decision.constraints (".max_bytes: ...", ": ...").
func parseConstraints(v any) (Constraints, error) {
	var c Constraints
	m, ok := v.(map[string]any)
	if !ok {
		return c, fmt.Errorf(": want an object, got %s", kind(v))
	}
	// advisory first: it decides whether an unknown name is refused.
	if a, ok := m[ConstraintAdvisory]; ok {
		names, err := stringList(a)
		if err != nil {
			return c, fmt.Errorf(".advisory: want a list of constraint names: %v", err)
		}
		slices.Sort(names)
		c.Advisory = slices.Compact(names)
	}
	var unknown []string
	for name, v := range m {
		switch name {
		case ConstraintAdvisory:
		case ConstraintIPRange:
			s, _ := v.(string)
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return c, fmt.Errorf(".ip_range: want a CIDR, got %s", describe(v))
			}
			c.IPRange = p.Masked()
		case ConstraintMaxBytes:
			n, err := positiveInt(v, 1<<62)
			if err != nil {
				return c, fmt.Errorf(".max_bytes: want a positive integer: %v", err)
			}
			c.MaxBytes = n
		case ConstraintContentType:
			s, ok := v.(string)
			if !ok || s == "" {
				return c, fmt.Errorf(".content_type: want a media type or a prefix ending in /, got %s", describe(v))
			}
			if !strings.HasSuffix(s, "/") {
				if _, _, err := mime.ParseMediaType(s); err != nil {
					return c, fmt.Errorf(".content_type: %q is not a media type", s)
				}
			}
			c.ContentType = s
		case ConstraintContentMD5:
			s, ok := v.(string)
			if raw, err := base64.StdEncoding.DecodeString(s); !ok || err != nil || len(raw) != md5.Size {
				return c, fmt.Errorf(".content_md5: want a base64 MD5 digest, got %s", describe(v))
			}
			c.ContentMD5 = s
		default:
			if !c.IsAdvisory(name) {
				unknown = append(unknown, name)
				continue
			}
			raw, err := json.Marshal(v)
			if err != nil {
				return c, fmt.Errorf(".%s: %v", name, err)
			}
			c.Unknown = append(c.Unknown, Unknown{Name: name, Value: raw})
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return c, fmt.Errorf(": unknown constraint %s, not marked advisory; signgate cannot enforce what it does not know",
			strings.Join(quoteAll(unknown), ", "))
	}
	slices.SortFunc(c.Unknown, func(a, b Unknown) int { return strings.Compare(a.Name, b.Name) })
	return c, nil
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}

// stringList reads a JSON array of strings; null is the empty list.
func stringList(v any) ([]string, error) {
	if v == nil {
		return []string{}, nil
	}
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("got %s, not a list", kind(v))
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, ok := it.(string)
		if !ok {
			return nil, fmt.Errorf("an item is %s, not a string", kind(it))
		}
		out = append(out, s)
	}
	return out, nil
}

// maxTTLSeconds bounds a TTL before it becomes a time.Duration; providers
// refuse anything over 7 days anyway.
const maxTTLSeconds = 1 << 31

var errNotInteger = errors.New("not an integer")

func positiveInt(v any, limit int64) (int64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("got %s, not a number", kind(v))
	}
	i, err := n.Int64()
	if err != nil {
		return 0, fmt.Errorf("%s is %w", n, errNotInteger)
	}
	if i <= 0 || i > limit {
		return 0, fmt.Errorf("%d is out of range", i)
	}
	return i, nil
}

// kind names a JSON value's type as a policy author knows it.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// describe shows a scalar value, or the kind of anything larger.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case json.Number:
		return x.String()
	}
	return kind(v)
}
