package audit

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/plugins"
	"github.com/open-policy-agent/opa/v1/rego"
)

// The direct path: how the console and file sinks write records without
// OPA's decision-log plugin, with the same result. Per revision, the drop
// and mask queries (data.system.log.drop, data.system.log.mask) are
// prepared once against the compiler and store OPA's plugin would use, and
// their answers are memoised where that is sound (memo.go); the mask rules
// are applied in Go (mask.go) and the event is encoded without reflection
// (encode.go). The service sink keeps OPA's plugin, for its upload
// protocol.

var (
	dropRef = ast.MustParseRef("data.system.log.drop")
	maskRef = ast.MustParseRef("data.system.log.mask")
)

// errPolicy wraps a failure of the drop or mask policy: the record is not
// written, as OPA's plugin does not hand such an event on.
var errPolicy = errors.New("the drop or mask policy failed")

// recordPolicy is one revision's drop and mask policies, prepared.
type recordPolicy struct {
	drop, mask rego.PreparedEvalQuery
	err        error // preparing failed: every record fails, as with OPA's plugin
	reads      readSet
	memo       *memo
}

// prepareRecordPolicy prepares the drop and mask queries on c, as OPA's
// plugin prepares them after a compiler trigger.
func prepareRecordPolicy(mgr *plugins.Manager, c *ast.Compiler) *recordPolicy {
	if c == nil {
		c = ast.NewCompiler()
	}
	rp := &recordPolicy{reads: analyze(c, dropRef, maskRef), memo: newMemo()}
	prepare := func(ref ast.Ref) (rego.PreparedEvalQuery, error) {
		return rego.New(
			rego.ParsedQuery(ast.NewBody(ast.NewExpr(ast.NewTerm(ref)))),
			rego.Compiler(c),
			rego.Store(mgr.Store),
			rego.Runtime(mgr.Info),
			rego.EnablePrintStatements(mgr.EnablePrintStatements()),
			rego.PrintHook(mgr.PrintHook()),
		).PrepareForEval(context.Background())
	}
	var err error
	if rp.drop, err = prepare(dropRef); err != nil {
		rp.err = fmt.Errorf("%w: drop policy: %w", errPolicy, err)
	} else if rp.mask, err = prepare(maskRef); err != nil {
		rp.err = fmt.Errorf("%w: mask policy: %w", errPolicy, err)
	}
	return rp
}

// decide is what the drop and mask policies make of e: from the memo when
// its reads allow, otherwise by evaluating them on the event, as OPA's
// plugin does. An error means the record is not written.
func (rp *recordPolicy) decide(ctx context.Context, e *recordEvent, key []byte) (verdict, []byte, error) {
	if rp.err != nil {
		return verdict{}, key, rp.err
	}
	cacheable := false
	if rp.reads.memo {
		key, cacheable = rp.reads.memoKey(key[:0], e)
		if cacheable {
			if v, ok := rp.memo.get(key); ok {
				return v, key, v.err
			}
		}
	}
	v := rp.eval(ctx, e)
	if cacheable && ctx.Err() == nil {
		rp.memo.put(key, v) // a policy's failure is as deterministic as its answer
	}
	return v, key, v.err
}

func (rp *recordPolicy) eval(ctx context.Context, e *recordEvent) verdict {
	v, err := rp.evalPolicies(ctx, e)
	if err != nil {
		return verdict{err: err}
	}
	return v
}

func (rp *recordPolicy) evalPolicies(ctx context.Context, e *recordEvent) (verdict, error) {
	input, err := e.policyInput()
	if err != nil {
		return verdict{}, err
	}
	rs, err := rp.drop.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		return verdict{}, fmt.Errorf("%w: drop policy: %w", errPolicy, err)
	}
	if rs.Allowed() {
		return verdict{drop: true}, nil
	}
	rs, err = rp.mask.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		return verdict{}, fmt.Errorf("%w: mask policy: %w", errPolicy, err)
	}
	if len(rs) == 0 {
		return verdict{}, nil
	}
	rules, err := parseMaskRules(rs[0].Expressions[0].Value)
	if err != nil {
		return verdict{}, fmt.Errorf("%w: mask policy: %w", errPolicy, err)
	}
	return verdict{rules: rules}, nil
}

// directRecorder writes records for the console and file sinks. The
// worker uses it, alone or with a few helpers for a large batch (see
// Pipeline.encodeBatch); each caller brings its own recordScratch.
type directRecorder struct {
	mgr     *plugins.Manager
	labels  map[string]string
	policy  atomic.Pointer[recordPolicy] // swapped by UsePolicy, which need not run on the worker
	scratch []recordScratch              // [0] is the worker's; one per helper
}

// recordScratch is what encoding records one after another reuses.
type recordScratch struct {
	key []byte // memo keys
	w   jsonWriter
	buf []byte // a helper's lines
}

func newDirectRecorder(mgr *plugins.Manager) *directRecorder {
	d := &directRecorder{mgr: mgr, labels: mgr.Labels(), scratch: make([]recordScratch, max(1, runtime.GOMAXPROCS(0)))}
	d.use(mgr.GetCompiler())
	return d
}

// use makes c's drop and mask policies apply to the records that follow;
// the store must already hold the revision's data.
func (d *directRecorder) use(c *ast.Compiler) *recordPolicy {
	rp := prepareRecordPolicy(d.mgr, c)
	d.policy.Store(rp)
	return rp
}

// appendRecord appends rec's event, masked, to b. dropped is true when the
// drop policy dropped it; an error (from a policy or the encoder) means
// nothing was appended.
func (d *directRecorder) appendRecord(ctx context.Context, s *recordScratch, b []byte, rec *Record) (_ []byte, dropped bool, err error) {
	e := newRecordEvent(rec, d.labels)
	var v verdict
	v, s.key, err = d.policy.Load().decide(ctx, e, s.key)
	if err != nil {
		return b, false, err
	}
	if v.drop {
		return b, true, nil
	}
	for _, r := range v.rules {
		r.apply(e)
	}
	s.w = jsonWriter{b: b}
	appendEvent(&s.w, e)
	out, err := s.w.b, s.w.err
	s.w = jsonWriter{}
	if err != nil {
		return b, false, err
	}
	return out, false, nil
}
