// Package authz owns the decision: the engine that prepares each policy
// revision once, swaps revisions atomically and answers Decide, the input
// builder the policy and the decision records share, and the typed decision
// contract that the policy's answer is parsed into. Where revisions come
// from (embedded, a watched directory, a bundle service, an OCI registry or
// a file:// archive) is package bundles.
package authz

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// noMetrics is shared by every evaluation: Decide reads no OPA metrics.
var noMetrics = metrics.NoOp()

// Query is the decision every policy bundle must define.
const Query = "data.signgate.authz.decision"

// ErrNotReady is returned by Decide while no policy is active.
var ErrNotReady = errors.New("authz: no active policy")

// ErrPolicy marks a decision that could not be trusted: an evaluation
// error, an undefined or malformed decision. Callers must deny.
var ErrPolicy = errors.New("authz: policy error")

// Engine evaluates the active policy revision.
type Engine struct {
	active     atomic.Pointer[revision]
	connectors atomic.Pointer[map[string]bool] // nil: not yet told
	now        func() time.Time
	log        *slog.Logger
	observers  []Observer
	workers    evaluators // where Decide evaluates (pool.go)

	// updating serialises updates, so that observers see them in order.
	updating sync.Mutex
	// mu guards the lifecycle below; Decide never takes it.
	mu          sync.Mutex
	lastCheck   time.Time
	lastError   *Failure
	activations uint64
	failures    map[Stage]uint64
}

// revision is one prepared policy, never mutated after activation.
type revision struct {
	query       rego.PreparedEvalQuery
	id          string
	source      string
	keyID       string
	activatedAt time.Time
	teams       []teamConnector // the connector each team of the data names
	// compiler holds the revision's compiled modules; Event hands it on,
	// so that no one compiles the revision again.
	compiler *ast.Compiler
}

// Option configures an Engine.
type Option func(*Engine)

// New returns an engine with no active policy; Activate one before use.
func New(opts ...Option) *Engine {
	e := &Engine{
		now:      time.Now,
		log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		failures: map[Stage]uint64{},
	}
	for _, o := range opts {
		o(e)
	}
	return e
}

// Status returns the active revision, and false while none is active.
func (e *Engine) Status() (Status, bool) {
	r := e.active.Load()
	if r == nil {
		return Status{}, false
	}
	return Status{Revision: r.id, Source: r.source, ActivatedAt: r.activatedAt, SigningKeyID: r.keyID}, true
}

// Ready reports whether a policy is active.
func (e *Engine) Ready() bool { return e.active.Load() != nil }

// Activate compiles b, checks that its decision has the expected shape, and
// only then makes it the active revision. On error the previous revision
// stays active, and the failure is reported (Report, observers, log).
// Activate verifies no signature, so the revision names no signing key:
// the sources in package bundles verify signed bundles and then call
// ActivateSigned.
func (e *Engine) Activate(ctx context.Context, b *bundle.Bundle, source string) error {
	return e.ActivateSigned(ctx, b, source, "")
}

// ActivateSigned is Activate for a bundle whose signature the caller has
// verified with the key keyID.
func (e *Engine) ActivateSigned(ctx context.Context, b *bundle.Bundle, source, keyID string) error {
	e.updating.Lock()
	defer e.updating.Unlock()
	rev, stage, err := e.prepare(ctx, b, source)
	if err != nil {
		e.reject(source, stage, Revision(b), err)
		return err
	}
	now := e.now().UTC()
	rev.keyID, rev.activatedAt = keyID, now
	prev := e.active.Swap(rev)
	e.mu.Lock()
	e.lastCheck, e.lastError = now, nil
	e.activations++
	e.mu.Unlock()
	attrs := []any{"source", source, "revision", rev.id}
	if prev != nil {
		attrs = append(attrs, "previous_revision", prev.id)
	}
	if keyID != "" {
		attrs = append(attrs, "signing_key_id", keyID)
	}
	e.log.Info("policy activated", attrs...)
	e.emit(Event{Kind: EventActivated, At: now, Source: source, Revision: rev.id, SigningKeyID: keyID, Bundle: b, Compiler: rev.compiler})
	return nil
}

// prepare compiles b and probes its decision, without activating it.
func (e *Engine) prepare(ctx context.Context, b *bundle.Bundle, source string) (*revision, Stage, error) {
	if b.Manifest.Roots == nil {
		b.Manifest.Init() // a bundle built in memory has no roots yet
	}
	for i, m := range b.Modules {
		if m.Parsed != nil {
			continue
		}
		// A bundle built in memory may hold Rego text only.
		parsed, err := ast.ParseModuleWithOpts(m.Path, string(m.Raw), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		if err != nil {
			return nil, StageRead, fmt.Errorf("authz: read %s: %w", source, err)
		}
		b.Modules[i].Parsed = parsed
	}
	// The compiler is the one rego.New would make; it is built here so
	// that the activated revision can hand its compiled modules on (the
	// decision-log mask evaluates them too).
	compiler := ast.NewCompiler().WithEnablePrintStatements(false).WithUseTypeCheckAnnotations(true)
	// The store hands data out as OPA values instead of converting Go
	// values on every read: the team lookup is on every decision's path.
	opts := []func(*rego.Rego){
		rego.Query(Query),
		rego.Compiler(compiler),
		rego.Store(inmem.NewFromObjectWithOpts(b.Data, inmem.OptReturnASTValuesOnRead(true), inmem.OptRoundTripOnWrite(false))),
	}
	for _, m := range b.Modules {
		opts = append(opts, rego.ParsedModule(m.Parsed))
	}
	pq, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return nil, StageCompile, fmt.Errorf("authz: compile %s: %w", source, err)
	}
	rev := &revision{query: pq, id: Revision(b), source: source, teams: teamConnectors(b.Data), compiler: compiler}
	if err := e.checkConnectors(rev); err != nil {
		return nil, StageDecision, fmt.Errorf("authz: %s rejected: %w", source, err)
	}
	if err := e.probe(ctx, rev); err != nil {
		return nil, StageDecision, fmt.Errorf("authz: %s rejected: %w", source, err)
	}
	return rev, "", nil
}

// Check compiles b and probes its decision as Activate would, without
// activating anything, and returns the revision it would have. It is for
// tools that build or verify bundles.
func Check(ctx context.Context, b *bundle.Bundle) (string, error) {
	rev, _, err := New().prepare(ctx, b, "check")
	if err != nil {
		return "", err
	}
	return rev.id, nil
}

// probe evaluates a request that names no known team, so that a bundle
// whose decision is undefined or malformed never becomes active.
func (e *Engine) probe(ctx context.Context, rev *revision) error {
	in := Input{
		Subject: Subject{ID: "signgate-probe", Teams: []string{}, AuthMethod: "probe"},
		Action:  Action{Team: "\x00probe", Operation: "read", Object: "probe"},
		Source:  Source{IP: "127.0.0.1"},
		Time:    e.now().UTC().Format(time.RFC3339),
	}
	d, err := e.eval(ctx, rev, &in)
	if err != nil {
		return err
	}
	if d.Allow {
		return fmt.Errorf("%w: decision allows a request for an unknown team", ErrPolicy)
	}
	return nil
}

// Decide evaluates in against the active revision. Any error means deny:
// ErrNotReady, ErrPolicy, an *ObjectTooLongError, or ctx's error when ctx
// ended during the evaluation.
func (e *Engine) Decide(ctx context.Context, in *Input) (Decision, error) {
	rev := e.active.Load()
	if rev == nil {
		return Decision{}, ErrNotReady
	}
	if err := ctx.Err(); err != nil {
		return Decision{Revision: rev.id}, fmt.Errorf("authz: not evaluated: %w", err)
	}
	return e.decide(ctx, rev, in)
}

func (e *Engine) eval(ctx context.Context, rev *revision, in *Input, opts ...rego.EvalOption) (Decision, error) {
	v, err := in.AST()
	if err != nil {
		return Decision{Revision: rev.id}, fmt.Errorf("%w: input: %v", ErrPolicy, err)
	}
	// OPA would otherwise start a goroutine per evaluation to watch ctx, and
	// collect metrics that nobody reads. A callback registered on ctx
	// cancels the evaluation just as well, without a goroutine.
	cancel := topdown.NewCancel()
	stop := context.AfterFunc(ctx, cancel.Cancel)
	defer stop()
	var rs rego.ResultSet
	if len(opts) == 0 {
		// The hot path: no slice to build.
		rs, err = rev.query.Eval(ctx, rego.EvalParsedInput(v), rego.EvalExternalCancel(cancel), rego.EvalMetrics(noMetrics), rego.EvalBaseCache(noBaseCache{}))
	} else {
		rs, err = rev.query.Eval(ctx, append(opts, rego.EvalParsedInput(v), rego.EvalExternalCancel(cancel), rego.EvalMetrics(noMetrics), rego.EvalBaseCache(noBaseCache{}))...)
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			// The caller gave up (a client that went away): not the policy's fault.
			return Decision{Revision: rev.id, InputAST: v}, fmt.Errorf("authz: evaluation stopped: %w", cerr)
		}
		return Decision{Revision: rev.id, InputAST: v}, fmt.Errorf("%w: evaluate: %v", ErrPolicy, err)
	}
	d, err := parseDecision(rs, in)
	d.Revision, d.InputAST = rev.id, v
	if err != nil {
		return d, err
	}
	if d.Allow && !e.knownConnector(d.Connector) {
		return Decision{Revision: rev.id, InputAST: v}, fmt.Errorf("%w: decision names unknown connector %q", ErrPolicy, d.Connector)
	}
	return d, nil
}

// noBaseCache is the evaluation's cache of data read from the store, turned
// off. OPA keeps that cache so that it converts a large JSON document to an
// OPA value once per evaluation; the revision's store already holds OPA
// values (OptReturnASTValuesOnRead) and is never written after activation,
// so a read is a lookup, cheaper than the trie of maps the cache builds on
// every evaluation (12 of the ~300 allocations of a decision with 100
// teams).
type noBaseCache struct{}

func (noBaseCache) Get(ast.Ref) ast.Value  { return nil }
func (noBaseCache) Put(ast.Ref, ast.Value) {}
