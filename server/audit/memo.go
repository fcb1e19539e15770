package audit

import (
	"container/list"
	"encoding/binary"
	"encoding/json"
	"slices"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// What the drop and mask policies read of a record. When every reference
// to input in the rules that the two queries can reach has a ground
// prefix, no reachable rule calls a non-deterministic built-in (or print),
// and no `with` replaces input, their answer is a function of the event's
// sub-trees at those prefixes and of the revision's data: it is memoised
// per revision, keyed by an exact encoding of those sub-trees. The shipped
// mask reads only input.input.subject.claims.

// unmemoisable are built-ins whose answer differs between evaluations
// although OPA does not mark them non-deterministic (uuid.rfc4122 is fixed
// within one evaluation only; certificate checks read the clock), and
// those with an effect (print).
var unmemoisable = []string{
	"print", "internal.print", "trace", "uuid.rfc4122", "crypto.x509.parse_and_verify_certificates",
	"time.now_ns", "rand.", "http.", "net.", "opa.runtime", "io.jwt.decode_verify",
}

// readSet is what a revision's drop and mask policies read of the event.
type readSet struct {
	memo  bool      // false: evaluate per record
	paths []ast.Ref // ground prefixes into the event, without the leading input
	why   string    // why not memo, for the log
}

// analyze finds what the rules reachable from the queries read of input.
func analyze(c *ast.Compiler, queries ...ast.Ref) readSet {
	var rs readSet
	seen := map[*ast.Rule]bool{}
	var queue []*ast.Rule
	reach := func(ref ast.Ref) {
		for _, r := range c.GetRules(ref.GroundPrefix()) {
			if !seen[r] {
				seen[r] = true
				queue = append(queue, r)
			}
		}
	}
	unsafe := func(why string) {
		if rs.why == "" {
			rs.why = why
		}
	}
	paths := map[string]ast.Ref{}
	checkOp := func(op ast.Ref) {
		if op.HasPrefix(ast.DefaultRootRef) {
			return // a function: its rules are reached through its ref
		}
		name := op.String()
		b, ok := ast.BuiltinMap[name]
		switch {
		case !ok:
			unsafe("calls " + name + ", which is not a known built-in")
		case b.Nondeterministic:
			unsafe("calls the non-deterministic " + name)
		case slices.ContainsFunc(unmemoisable, func(p string) bool { return strings.HasPrefix(name, p) }):
			unsafe("calls " + name)
		}
	}
	var vis *ast.GenericVisitor
	vis = ast.NewGenericVisitor(func(x any) bool {
		switch x := x.(type) {
		case ast.Ref:
			switch {
			case x.HasPrefix(ast.InputRootRef):
				p := x.GroundPrefix()
				if len(p) < 2 {
					unsafe("reads input whole")
				} else {
					paths[p[1:].String()] = p[1:]
				}
			case x.HasPrefix(ast.DefaultRootRef):
				reach(x)
			}
			for _, t := range x[1:] {
				vis.Walk(t)
			}
			return true
		case ast.Var:
			if x.Equal(ast.InputRootDocument.Value) {
				unsafe("reads input whole")
			} else if x.Equal(ast.DefaultRootDocument.Value) {
				reach(ast.DefaultRootRef)
			}
		case *ast.With:
			if t, ok := x.Target.Value.(ast.Ref); ok && t.HasPrefix(ast.InputRootRef) {
				unsafe("replaces input with `with`")
			}
		case *ast.Expr:
			if x.IsCall() {
				checkOp(x.Operator())
			}
		case ast.Call:
			if op, ok := x[0].Value.(ast.Ref); ok {
				checkOp(op)
			} else {
				unsafe("calls a non-ref operator")
			}
		}
		return false
	})
	for _, q := range queries {
		reach(q)
	}
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		vis.Walk(r)
	}
	rs.memo = rs.why == ""
	keys := make([]string, 0, len(paths))
	for k := range paths {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		rs.paths = append(rs.paths, paths[k])
	}
	return rs
}

// memoKey appends an exact encoding of what the policies read of e: equal
// keys mean equal sub-trees. ok is false when a value cannot be encoded,
// and the record is evaluated.
func (rs *readSet) memoKey(b []byte, e *recordEvent) (_ []byte, ok bool) {
	for _, p := range rs.paths {
		field, isStr := p[0].Value.(ast.String)
		if !isStr {
			continue // the event's keys are strings: never defined
		}
		b = appendKeyString(b, string(field))
		r := e.rec
		switch field {
		case "input":
			if e.inputAST == nil {
				b = append(b, 'u')
				continue
			}
			// Follow string keys through objects; anything else is
			// encoded whole, which holds whatever the reference reads.
			// The key says how many steps were followed: "a string at
			// claims.pii" and "a string at claims.pii.flag" must differ.
			v := e.inputAST
			steps := 0
			for _, t := range p[1:] {
				_, isStr := t.Value.(ast.String)
				obj, isObj := v.(ast.Object)
				if !isStr || !isObj {
					break
				}
				child := obj.Get(t)
				if child == nil {
					v = nil
					break
				}
				v = child.Value
				steps++
			}
			b = binary.AppendUvarint(append(b, 'p'), uint64(steps))
			if v == nil {
				b = append(b, 'u')
				continue
			}
			if b, ok = appendKeyAST(b, v); !ok {
				return b, false
			}
		case "decision_id":
			b = appendKeyString(b, r.DecisionID)
		case "bundles":
			b = appendKeyString(b, r.Revision)
		case "timestamp":
			ts, err := timestampText(r.Timestamp)
			if err != nil {
				return b, false
			}
			b = appendKeyString(b, ts)
		case "result":
			if !e.result.set {
				b = append(b, 'u')
				continue
			}
			if b, ok = appendKeyGo(b, e.result.v); !ok {
				return b, false
			}
		case "error":
			if e.err == nil {
				b = append(b, 'u')
				continue
			}
			raw, err := json.Marshal(e.err)
			if err != nil {
				return b, false
			}
			b = appendKeyString(b, string(raw))
		case "metrics":
			e.maps()
			if b, ok = appendKeyGo(b, e.metrics); !ok {
				return b, false
			}
		case "custom":
			e.maps()
			if b, ok = appendKeyGo(b, e.custom); !ok {
				return b, false
			}
		default:
			// labels and path are the pipeline's constants; every other
			// field of OPA's event is absent from a record.
		}
	}
	return b, true
}

func appendKeyString(b []byte, s string) []byte {
	b = append(b, 's')
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendKeyAST(b []byte, v ast.Value) ([]byte, bool) {
	switch v := v.(type) {
	case ast.Null:
		return append(b, 'n'), true
	case ast.Boolean:
		if v {
			return append(b, 't'), true
		}
		return append(b, 'f'), true
	case ast.Number:
		return appendKeyString(append(b, 'd'), string(v)), true
	case ast.String:
		return appendKeyString(b, string(v)), true
	case *ast.Array:
		b = binary.AppendUvarint(append(b, 'a'), uint64(v.Len()))
		for i := range v.Len() {
			var ok bool
			if b, ok = appendKeyAST(b, v.Elem(i).Value); !ok {
				return b, false
			}
		}
		return b, true
	case ast.Object:
		b = binary.AppendUvarint(append(b, 'o'), uint64(v.Len()))
		ok := true
		v.Until(func(k, e *ast.Term) bool {
			if b, ok = appendKeyAST(b, k.Value); ok {
				b, ok = appendKeyAST(b, e.Value)
			}
			return !ok
		})
		return b, ok
	case ast.Set:
		b = binary.AppendUvarint(append(b, 'S'), uint64(v.Len()))
		ok := true
		v.Until(func(e *ast.Term) bool {
			b, ok = appendKeyAST(b, e.Value)
			return !ok
		})
		return b, ok
	}
	return b, false
}

func appendKeyGo(b []byte, x any) ([]byte, bool) {
	switch v := x.(type) {
	case nil:
		return append(b, 'n'), true
	case bool:
		if v {
			return append(b, 't'), true
		}
		return append(b, 'f'), true
	case json.Number:
		return appendKeyString(append(b, 'd'), string(v)), true
	case string:
		return appendKeyString(b, v), true
	case []any:
		b = binary.AppendUvarint(append(b, 'a'), uint64(len(v)))
		for _, e := range v {
			var ok bool
			if b, ok = appendKeyGo(b, e); !ok {
				return b, false
			}
		}
		return b, true
	case map[string]any:
		b = binary.AppendUvarint(append(b, 'o'), uint64(len(v)))
		for _, k := range sortedKeys(v) {
			b = appendKeyString(b, k)
			var ok bool
			if b, ok = appendKeyGo(b, v[k]); !ok {
				return b, false
			}
		}
		return b, true
	}
	return b, false
}

// verdict is what the drop and mask policies decided for a record.
type verdict struct {
	drop  bool
	rules []*maskRule
	err   error // the policies failed: the record is not written
}

// memoSize bounds a revision's memo.
const memoSize = 1024

// memo is a small LRU of verdicts, shared by the worker and its helpers.
type memo struct {
	mu    sync.Mutex
	ll    *list.List
	items map[string]*list.Element
}

type memoEntry struct {
	key string
	v   verdict
}

func newMemo() *memo { return &memo{ll: list.New(), items: map[string]*list.Element{}} }

func (m *memo) get(key []byte) (verdict, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.items[string(key)]; ok {
		m.ll.MoveToFront(el)
		return el.Value.(*memoEntry).v, true
	}
	return verdict{}, false
}

func (m *memo) put(key []byte, v verdict) {
	k := string(key)
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.items[k]; ok {
		el.Value.(*memoEntry).v = v
		m.ll.MoveToFront(el)
		return
	}
	m.items[k] = m.ll.PushFront(&memoEntry{key: k, v: v})
	if m.ll.Len() > memoSize {
		last := m.ll.Back()
		m.ll.Remove(last)
		delete(m.items, last.Value.(*memoEntry).key)
	}
}
