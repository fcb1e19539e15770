package authz

import (
	"log/slog"
	"maps"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
)

// Status describes the active revision.
type Status struct {
	Revision    string    `json:"revision"`
	Source      string    `json:"source"`
	ActivatedAt time.Time `json:"activated_at"`
	// SigningKeyID names the key that verified the bundle's signature; empty
	// for an unsigned bundle.
	SigningKeyID string `json:"signing_key_id,omitempty"`
}

// Stage is where a policy update failed.
type Stage string

// Stages of a policy update, in the order they run.
const (
	StageDownload Stage = "download" // the bundle service could not be reached or answered an error
	StageRead     Stage = "read"     // not a readable bundle: a corrupt archive, Rego that does not parse, bad data
	StageVerify   Stage = "verify"   // a missing, invalid or out-of-scope signature
	StageCompile  Stage = "compile"  // the Rego does not compile
	StageDecision Stage = "decision" // it compiles, but its decision is undefined or malformed
)

// Failure is an update that was refused. The active revision, if any,
// stayed active.
type Failure struct {
	At     time.Time
	Source string
	Stage  Stage
	// Revision of the refused bundle, when it was read far enough to have one.
	Revision string
	Err      error
}

// Report is the engine's policy lifecycle, for GET /v1/policy and metrics.
type Report struct {
	Ready  bool
	Active Status // zero while no revision is active
	// LastCheck is when a source last looked for a new revision, whatever
	// it found.
	LastCheck time.Time
	// LastError is the most recent refused update since the last
	// activation; nil once a newer revision is active.
	LastError   *Failure
	Activations uint64           // revisions activated since start
	Failures    map[Stage]uint64 // refused updates since start, by stage
}

// EventKind says what happened to the policy.
type EventKind string

// Kinds of Event.
const (
	EventActivated EventKind = "activated" // a new revision is active
	EventRejected  EventKind = "rejected"  // an update failed; the active revision stayed
	EventUnchanged EventKind = "unchanged" // a source checked and found nothing new
)

// Event is one outcome of a policy update, delivered to observers.
type Event struct {
	Kind   EventKind
	At     time.Time
	Source string
	// Revision is the activated revision, or the refused one when known.
	Revision     string
	SigningKeyID string // of an activated, signed bundle
	Stage        Stage  // of a rejection
	Err          error  // of a rejection
	// Bundle is the activated bundle (EventActivated only), for consumers
	// that need its policy, such as the decision-log mask. Read-only.
	Bundle *bundle.Bundle
	// Compiler holds the activated bundle's modules as the engine compiled
	// them (EventActivated only), so that a consumer evaluating the same
	// policy needs no compilation of its own. Read-only.
	Compiler *ast.Compiler
}

// Observer is told of every policy update in order: activations,
// rejections and checks that found nothing new. It runs on the updating
// goroutine and must return quickly; it may call Status and Report but
// must not activate a policy itself.
type Observer func(Event)

// WithObserver adds an observer, for metrics or for components that follow
// the active bundle. It may be given more than once.
func WithObserver(o Observer) Option {
	return func(e *Engine) { e.observers = append(e.observers, o) }
}

// WithLogger sets the logger for activations and refused updates.
func WithLogger(l *slog.Logger) Option {
	return func(e *Engine) { e.log = l }
}

// Report returns the policy lifecycle as it stands.
func (e *Engine) Report() Report {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := Report{
		LastCheck:   e.lastCheck,
		LastError:   e.lastError,
		Activations: e.activations,
		Failures:    maps.Clone(e.failures),
	}
	r.Active, r.Ready = e.Status()
	return r
}

// Logger is the engine's logger, for the sources that feed it.
func (e *Engine) Logger() *slog.Logger { return e.log }

// Checked records a look at a source that found nothing new.
func (e *Engine) Checked(source string) {
	e.updating.Lock()
	defer e.updating.Unlock()
	now := e.now().UTC()
	e.mu.Lock()
	e.lastCheck = now
	e.mu.Unlock()
	e.emit(Event{Kind: EventUnchanged, At: now, Source: source})
}

// reject records a refused update and keeps the active revision. The
// caller holds e.updating.
func (e *Engine) reject(source string, stage Stage, revision string, err error) {
	now := e.now().UTC()
	f := &Failure{At: now, Source: source, Stage: stage, Revision: revision, Err: err}
	e.mu.Lock()
	e.lastCheck, e.lastError = now, f
	e.failures[stage]++
	e.mu.Unlock()
	active, _ := e.Status()
	e.log.Error("policy update refused; the active revision stays",
		"source", source, "stage", string(stage), "revision", revision, "active_revision", active.Revision, "err", err)
	e.emit(Event{Kind: EventRejected, At: now, Source: source, Revision: revision, Stage: stage, Err: err})
}

// Refuse records an update that failed before it could be activated: it
// could not be downloaded, read or verified. The active revision stays.
func (e *Engine) Refuse(source string, stage Stage, err error) {
	e.updating.Lock()
	defer e.updating.Unlock()
	e.reject(source, stage, "", err)
}

func (e *Engine) emit(ev Event) {
	for _, o := range e.observers {
		o(ev)
	}
}
