// Package bundles owns the policy lifecycle: it loads a bundle (embedded in
// the binary or read from a directory), prepares the decision query once per
// revision, swaps revisions atomically and answers the one question the
// server asks: Decide.
package bundles

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/rego"
)

// Query is the decision every policy bundle must define.
const Query = "data.signgate.authz.decision"

// ErrNotReady is returned by Decide while no policy is active.
var ErrNotReady = errors.New("bundles: no active policy")

// ErrPolicy marks a decision that could not be trusted: an evaluation
// error, an undefined or malformed decision. Callers must deny.
var ErrPolicy = errors.New("bundles: policy error")

// Engine evaluates the active policy revision.
type Engine struct {
	active         atomic.Pointer[revision]
	knownConnector func(string) bool
	now            func() time.Time
}

// revision is one prepared policy, never mutated after activation.
type revision struct {
	query       rego.PreparedEvalQuery
	id          string
	source      string
	activatedAt time.Time
}

// Option configures an Engine.
type Option func(*Engine)

// WithConnectors makes Decide fail closed when an allowing decision names
// a connector for which known returns false.
func WithConnectors(known func(name string) bool) Option {
	return func(e *Engine) { e.knownConnector = known }
}

// WithClock sets the clock used for activation times.
func WithClock(now func() time.Time) Option {
	return func(e *Engine) { e.now = now }
}

// New returns an engine with no active policy; Activate one before use.
func New(opts ...Option) *Engine {
	e := &Engine{knownConnector: func(string) bool { return true }, now: time.Now}
	for _, o := range opts {
		o(e)
	}
	return e
}

// Status describes the active revision.
type Status struct {
	Revision    string    `json:"revision"`
	Source      string    `json:"source"`
	ActivatedAt time.Time `json:"activated_at"`
}

// Status returns the active revision, and false while none is active.
func (e *Engine) Status() (Status, bool) {
	r := e.active.Load()
	if r == nil {
		return Status{}, false
	}
	return Status{Revision: r.id, Source: r.source, ActivatedAt: r.activatedAt}, true
}

// Ready reports whether a policy is active.
func (e *Engine) Ready() bool { return e.active.Load() != nil }

// Activate compiles b, checks that its decision has the expected shape, and
// only then makes it the active revision. On error the previous revision
// stays active.
func (e *Engine) Activate(ctx context.Context, b *bundle.Bundle, source string) error {
	if b.Manifest.Roots == nil {
		b.Manifest.Init() // a bundle built in memory has no roots yet
	}
	pq, err := rego.New(
		rego.Query(Query),
		rego.ParsedBundle("signgate", b),
	).PrepareForEval(ctx)
	if err != nil {
		return fmt.Errorf("bundles: compile %s: %w", source, err)
	}
	rev := &revision{query: pq, id: Revision(b), source: source, activatedAt: e.now().UTC()}
	if err := e.probe(ctx, rev); err != nil {
		return fmt.Errorf("bundles: %s rejected: %w", source, err)
	}
	e.active.Store(rev)
	return nil
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

// Decide evaluates in against the active revision. Any error means deny.
func (e *Engine) Decide(ctx context.Context, in *Input) (Decision, error) {
	rev := e.active.Load()
	if rev == nil {
		return Decision{}, ErrNotReady
	}
	return e.eval(ctx, rev, in)
}

func (e *Engine) eval(ctx context.Context, rev *revision, in *Input) (Decision, error) {
	v, err := in.astValue()
	if err != nil {
		return Decision{Revision: rev.id}, fmt.Errorf("%w: input: %v", ErrPolicy, err)
	}
	rs, err := rev.query.Eval(ctx, rego.EvalParsedInput(v))
	if err != nil {
		return Decision{Revision: rev.id}, fmt.Errorf("%w: evaluate: %v", ErrPolicy, err)
	}
	d, err := parseDecision(rs, in.Action.Operation)
	d.Revision = rev.id
	if err != nil {
		return d, err
	}
	if d.Allow && !e.knownConnector(d.Connector) {
		return Decision{Revision: rev.id}, fmt.Errorf("%w: decision names unknown connector %q", ErrPolicy, d.Connector)
	}
	return d, nil
}
