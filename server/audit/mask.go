package audit

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// The mask rules of data.system.log.mask, applied in Go as OPA's plugin
// applies them (v1/plugins/logs/mask.go, OPA v1.22.3): the same rule
// format and errors, the same path parsing (each segment is unescaped to
// check it, then matched in its url.PathEscape form), the same maskable
// parts (input, result, nd_builtin_cache), and the same erased and masked
// lists. Where OPA walks a fresh JSON copy of the event, these rules walk
// the record's values and copy only the objects and arrays on a masked
// path (materialize): the policy's input and the rules' values are
// ast.Values, which are never changed.

type maskOp string

const (
	maskRemove maskOp = "remove"
	maskUpsert maskOp = "upsert"

	partInput    = "input"
	partResult   = "result"
	partNDBCache = "nd_builtin_cache"
)

var errMaskInvalidObject = errors.New("mask upsert invalid object")

type maskRule struct {
	op    maskOp
	parts []string // escaped
	value any      // upsert: nil or a plain ast.Value
	full  bool     // the path names a whole part: /input, /result
}

// String is the path as the event's erased and masked lists name it.
func (r *maskRule) String() string { return "/" + strings.Join(r.parts, "/") }

func newMaskRule(path string, op maskOp, value any) (*maskRule, error) {
	if len(path) == 0 {
		return nil, errors.New("mask must be non-empty")
	} else if !strings.HasPrefix(path, "/") {
		return nil, errors.New("mask must be slash-prefixed")
	}
	parts := strings.Split(path[1:], "/")
	switch parts[0] {
	case partInput, partResult, partNDBCache:
	default:
		return nil, fmt.Errorf("mask prefix not allowed: %v", parts[0])
	}
	escaped := make([]string, len(parts))
	for i := range parts {
		if _, err := url.PathUnescape(parts[i]); err != nil {
			return nil, err
		}
		escaped[i] = url.PathEscape(parts[i])
	}
	switch op {
	case maskRemove, maskUpsert:
	default:
		return nil, fmt.Errorf("mask op is not supported: %s", op)
	}
	return &maskRule{op: op, parts: escaped, value: value, full: len(escaped) == 1}, nil
}

// parseMaskRules is OPA's newMaskRuleSet: rv is the mask policy's value as
// a rego result holds it. Upsert values become ast.Values, so that a rule
// set can be applied to many records without one changing another.
func parseMaskRules(rv any) ([]*maskRule, error) {
	raw, ok := rv.([]any)
	if !ok {
		return nil, fmt.Errorf("unexpected rule format %v (%[1]T)", rv)
	}
	rules := make([]*maskRule, 0, len(raw))
	for _, x := range raw {
		switch v := x.(type) {
		case string:
			r, err := newMaskRule(v, maskRemove, nil)
			if err != nil {
				return nil, err
			}
			rules = append(rules, r)
		case map[string]any:
			op, set := getString(v, "op")
			if set && op == "" {
				return nil, fmt.Errorf("invalid \"op\" value: %v %[1]T", v["op"])
			}
			path, set := getString(v, "path")
			if set && path == "" {
				return nil, fmt.Errorf("invalid \"path\" value: %v %[1]T", v["path"])
			}
			var value any
			if x := v["value"]; x != nil {
				av, err := ast.InterfaceToValue(x)
				if err != nil {
					return nil, err
				}
				value = av
			}
			r, err := newMaskRule(path, maskOp(op), value)
			if err != nil {
				return nil, err
			}
			rules = append(rules, r)
		default:
			return nil, fmt.Errorf("invalid mask rule format encountered: %T", v)
		}
	}
	return rules, nil
}

func getString(x map[string]any, key string) (string, bool) {
	y, ok := x[key]
	if !ok {
		return "", false
	}
	s, _ := y.(string)
	return s, true
}

// maskable is one part of the event that the rules may change.
type maskable struct {
	set bool // the event has the part (OPA: a non-nil pointer)
	v   any
}

// apply is OPA's maskRule.Mask on e. Like OPA's rule set, it ignores a
// rule that does not apply (a missing path, a wrong type).
func (r *maskRule) apply(e *recordEvent) {
	var part *maskable
	switch r.parts[0] {
	case partInput:
		part = &e.input
	case partResult:
		part = &e.result
	default: // nd_builtin_cache: a record has none
		return
	}
	if !part.set {
		return
	}
	switch r.op {
	case maskRemove:
		if r.full {
			*part = maskable{}
		} else if removeValue(r.parts[1:], &part.v) != nil {
			return
		}
		e.erased = append(e.erased, r.String())
	case maskUpsert:
		if r.full {
			part.v = r.value
		} else {
			part.v = materialize(part.v)
			switch obj := part.v.(type) {
			case map[string]any, []any:
				if mkdirp(obj, r.parts[1:], r.value) != nil {
					return
				}
			default:
				return
			}
		}
		e.masked = append(e.masked, r.String())
	}
}

// materialize turns an ast object or array into a map or slice of its
// elements, which stay as they are: the copy that a rule may change.
func materialize(x any) any {
	switch v := x.(type) {
	case ast.Object:
		m := make(map[string]any, v.Len())
		v.Foreach(func(k, e *ast.Term) {
			m[string(k.Value.(ast.String))] = e.Value // plain: string keys
		})
		return m
	case *ast.Array:
		s := make([]any, v.Len())
		for i := range s {
			s[i] = v.Elem(i).Value
		}
		return s
	}
	return x
}

func removeValue(p []string, nodePtr *any) error {
	if len(p) == 0 {
		return nil
	}
	*nodePtr = materialize(*nodePtr)
	node := *nodePtr
	targetKey := p[len(p)-1]
	var nodeParent any
	var nodeKey string
	for i := range len(p) - 1 {
		switch v := node.(type) {
		case map[string]any:
			child, ok := v[p[i]]
			if !ok {
				return errMaskInvalidObject
			}
			child = materialize(child)
			v[p[i]] = child
			nodeParent, nodeKey, node = v, p[i], child
		case []any:
			index, err := strconv.Atoi(p[i])
			if err != nil || index < 0 || index >= len(v) {
				return errMaskInvalidObject
			}
			child := materialize(v[index])
			v[index] = child
			nodeParent, nodeKey, node = v, p[i], child
		default:
			return errMaskInvalidObject
		}
	}
	switch v := node.(type) {
	case map[string]any:
		if _, ok := v[targetKey]; !ok {
			return errMaskInvalidObject
		}
		delete(v, targetKey)
	case []any:
		targetIndex, err := strconv.Atoi(targetKey)
		if err != nil || targetIndex < 0 || targetIndex >= len(v) {
			return errMaskInvalidObject
		}
		switch parent := nodeParent.(type) {
		case []any:
			index, err := strconv.Atoi(nodeKey)
			if err != nil {
				return errMaskInvalidObject
			}
			parent[index] = slices.Delete(v, targetIndex, targetIndex+1)
		case map[string]any:
			parent[nodeKey] = slices.Delete(v, targetIndex, targetIndex+1)
		case nil:
			*nodePtr = slices.Delete(v, targetIndex, targetIndex+1)
		default:
			return errMaskInvalidObject
		}
	default:
		return errMaskInvalidObject
	}
	return nil
}

func mkdirp(node any, path []string, value any) error {
	if len(path) == 0 {
		return nil
	}
	for i := range len(path) - 1 {
		switch v := node.(type) {
		case map[string]any:
			child, ok := v[path[i]]
			if !ok {
				child = map[string]any{}
			} else {
				child = materialize(child)
			}
			v[path[i]] = child
			node = child
		case []any:
			idx, err := strconv.Atoi(path[i])
			if err != nil || idx < 0 {
				return errMaskInvalidObject
			}
			if idx >= len(v) {
				// OPA grows a copy of the slice that is then dropped:
				// the element is nil, and the next step fails.
				return errMaskInvalidObject
			}
			child := materialize(v[idx])
			v[idx] = child
			node = child
		default:
			return errMaskInvalidObject
		}
	}
	switch v := node.(type) {
	case map[string]any:
		v[path[len(path)-1]] = value
	case []any:
		idx, err := strconv.Atoi(path[len(path)-1])
		if err != nil || idx < 0 || idx >= len(v) {
			return errMaskInvalidObject
		}
		v[idx] = value
	default:
		return errMaskInvalidObject
	}
	return nil
}
