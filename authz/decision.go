package authz

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
)

// Decision is the typed form of data.signgate.authz.decision.
type Decision struct {
	Allow       bool           `json:"allow"`
	Reasons     []string       `json:"reasons"`
	Connector   string         `json:"connector,omitempty"`
	Key         string         `json:"key,omitempty"`
	Operation   string         `json:"operation,omitempty"`
	TTL         time.Duration  `json:"-"`
	Constraints map[string]any `json:"constraints,omitempty"`
	Revision    string         `json:"revision"`
}

// TTLSeconds is the granted lifetime in whole seconds.
func (d Decision) TTLSeconds() int64 { return int64(d.TTL / time.Second) }

// parseDecision maps a result set onto a Decision, failing closed on
// anything but exactly one well-formed object. A denying decision only
// needs allow and reasons; an allowing one must name a connector, a key,
// the requested operation and a positive TTL.
func parseDecision(rs rego.ResultSet, wantOp string) (Decision, error) {
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
		m, ok := c.(map[string]any)
		if !ok {
			return Decision{}, fmt.Errorf("%w: decision.constraints is not an object", ErrPolicy)
		}
		d.Constraints = m
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
	case d.Operation != wantOp:
		return Decision{}, fmt.Errorf("%w: decision operation %q differs from the request's %q", ErrPolicy, d.Operation, wantOp)
	}
	ttl, err := positiveInt(obj["ttl_seconds"])
	if err != nil {
		return Decision{}, fmt.Errorf("%w: decision.ttl_seconds: %v", ErrPolicy, err)
	}
	d.TTL = time.Duration(ttl) * time.Second
	d.Allow = true
	return d, nil
}

func stringList(v any) ([]string, error) {
	if v == nil {
		return []string{}, nil
	}
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%T is not a list", v)
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, ok := it.(string)
		if !ok {
			return nil, fmt.Errorf("item %T is not a string", it)
		}
		out = append(out, s)
	}
	return out, nil
}

// maxTTLSeconds bounds a TTL before it becomes a time.Duration; providers
// refuse anything over 7 days anyway.
const maxTTLSeconds = 1 << 31

func positiveInt(v any) (int64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%T is not a number", v)
	}
	i, err := n.Int64()
	if err != nil {
		return 0, fmt.Errorf("%s is not an integer", n)
	}
	if i <= 0 || i > maxTTLSeconds {
		return 0, fmt.Errorf("%d is out of range", i)
	}
	return i, nil
}
