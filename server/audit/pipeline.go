package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/plugins"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/server/config"
)

// CodeUnavailable is the problem code of a strict request whose record
// could not be stored: 503, and no URL.
const CodeUnavailable = "audit_unavailable"

// ErrUnavailable is returned by a strict Pipeline's Record when the record
// was not stored; the caller must not hand out what the record describes.
var ErrUnavailable = errors.New("audit: record not stored")

// Pipeline takes decision records from the handlers and stores them. The
// request path only sends a pointer on a channel; one worker goroutine
// turns records into OPA events, applies the drop and mask policies (itself
// for the console and file sinks, with helpers for a large group; through
// OPA's decision-log plugin and its upload buffer for the service sink) and
// commits them in groups.
//
// best_effort sheds what no URL depends on first: a record of a denial, a
// failure or a /v1/decide answer waits in its own queue, whose oldest
// record goes when it is full, and with the service sink it stops entering
// OPA's upload buffer once that is three-quarters full. A record of an
// issued URL is never dropped to make room: it waits up to strict_timeout
// for a place in its queue, then Record returns ErrUnavailable and the
// request gets 503 and no URL. strict: Record returns only once every
// record is stored (written and fsynced, or acknowledged by the
// decision-log service), or ErrUnavailable.
type Pipeline struct {
	strict  bool
	service bool
	timeout time.Duration
	queue   chan *item // strict: every record; best_effort: records of issued URLs
	shed    chan *item // best_effort: every other record; nil when strict
	reserve int64      // best_effort service: shed records stay out of a buffer this full
	batch   int        // the most records per group commit
	stop    chan struct{}
	exited  chan struct{}
	closed  atomic.Bool

	policy    atomic.Pointer[activated] // activated, not yet applied
	newPolicy chan struct{}
	reopen    chan chan error // see Reopen

	opa    *opaLogs
	direct *directRecorder // console and file; nil for the service sink
	sink   *sink
	file   *rotatingFile
	log    *slog.Logger
	now    func() time.Time

	stats      stats
	commitTime prometheus.Histogram
	batchSize  prometheus.Histogram
	sinkName   string
}

// item is one record on its way; done is set in strict mode only.
type item struct {
	rec  *Record
	shed bool // a best_effort record no URL depends on
	done chan error
	err  error
	// state settles a strict item once, between the worker's answer and
	// the caller's timeout: whichever comes first decides what the
	// caller was told.
	state atomic.Int32
}

// States of a strict item.
const (
	waiting   int32 = iota
	answered        // the worker's answer is in done
	abandoned       // the caller timed out and got 503
)

// Option changes how a Pipeline is built.
type Option func(*options)

type options struct {
	log    *slog.Logger
	reg    prometheus.Registerer
	stdout io.Writer
	now    func() time.Time
	token  string
	mgr    *plugins.Manager
}

// WithLogger sets where the pipeline reports failures and drops.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithRegisterer registers the pipeline's metrics.
func WithRegisterer(r prometheus.Registerer) Option { return func(o *options) { o.reg = r } }

// WithStdout sets where the console sink writes (default os.Stdout).
func WithStdout(w io.Writer) Option { return func(o *options) { o.stdout = w } }

// WithClock sets the clock of file rotation names and compensating records.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithServiceToken sets the bearer token for the decision-log service.
// With WithPluginManager, the token is the manager's (PluginConfig).
func WithServiceToken(token string) Option { return func(o *options) { o.token = token } }

// WithPluginManager runs OPA's decision-log plugin on mgr, the process's one
// OPA plugin manager, instead of a manager of the pipeline's own. mgr must
// be made from PluginConfig's configuration (more sections may be added,
// such as the bundle service's) and initialised (Init). The pipeline
// registers its sink plugin on mgr, and owns its decision_logs plugin, which
// Close stops; mgr itself is left to its owner to stop, after Close.
func WithPluginManager(mgr *plugins.Manager) Option { return func(o *options) { o.mgr = mgr } }

// New starts a pipeline for cfg (audit.sink is console, file or service;
// "none" needs no pipeline). It opens the file or checks nothing about the
// service: a service that is down is found out by the first upload.
func New(ctx context.Context, cfg config.Audit, opts ...Option) (*Pipeline, error) {
	o := options{log: slog.New(slog.DiscardHandler), stdout: os.Stdout, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	p := &Pipeline{
		strict:    cfg.Mode == "strict",
		service:   cfg.Sink == "service",
		timeout:   cfg.StrictTimeout.Duration,
		queue:     make(chan *item, cfg.BufferSize),
		batch:     min(maxBatch, cfg.BufferSize),
		stop:      make(chan struct{}),
		exited:    make(chan struct{}),
		reserve:   int64(cfg.BufferSize) * 3 / 4,
		newPolicy: make(chan struct{}, 1),
		reopen:    make(chan chan error),
		log:       o.log,
		now:       o.now,
		sinkName:  cfg.Sink,
	}
	if !p.strict {
		p.shed = make(chan *item, cfg.BufferSize)
	}
	switch cfg.Sink {
	case "console":
		p.sink = newSink(o.stdout, nil)
	case "file":
		f, err := openRotating(cfg.Path, int64(cfg.Rotation.MaxSizeMB)<<20, cfg.Rotation.MaxBackups, cfg.Rotation.MaxAge.Duration, o.now)
		if err != nil {
			return nil, err
		}
		p.file = f
		p.sink = newSink(f, f.Sync)
	case "service":
		p.sink = newSink(nil, nil)
	default:
		return nil, fmt.Errorf("audit: sink %q needs no pipeline", cfg.Sink)
	}
	var err error
	if p.opa, err = newOPALogs(ctx, cfg, o.token, o.mgr, p.sink, o.log); err != nil {
		if p.file != nil {
			p.file.Close()
		}
		return nil, err
	}
	if !p.service {
		p.direct = newDirectRecorder(p.opa.mgr)
	}
	p.registerMetrics(o.reg)
	go p.run()
	return p, nil
}

// UsePolicy makes the drop and mask policies of b (data.system.log.drop,
// data.system.log.mask) apply to the records that follow, once it returns.
func (p *Pipeline) UsePolicy(ctx context.Context, b *bundle.Bundle) error {
	c, err := p.opa.usePolicy(ctx, b)
	if err == nil {
		p.useDirect(c)
	}
	return err
}

// useDirect prepares c's drop and mask policies for the direct path, and
// says when they must be evaluated for every record.
func (p *Pipeline) useDirect(c *ast.Compiler) {
	if p.direct == nil {
		return
	}
	rp := p.direct.use(c)
	switch {
	case rp.err != nil:
		p.log.Error("decision records will not be written: the drop or mask policy does not prepare", "err", rp.err)
	case !rp.reads.memo:
		p.log.Info("the drop and mask policies are evaluated for every decision record", "reason", rp.reads.why)
	}
}

// PolicyActivated is UsePolicy for the engine's observer: it returns at
// once, and the worker applies b before it logs another record. When
// bundles come faster than that, only the latest is applied.
func (p *Pipeline) PolicyActivated(b *bundle.Bundle) {
	p.setPolicy(&activated{bundle: b})
}

// Follow is the engine's observer: each revision the engine activates
// applies, as PolicyActivated, before the next record. The engine's
// compiled modules are used as they are, so a revision is compiled once.
func (p *Pipeline) Follow(ev authz.Event) {
	if ev.Kind != authz.EventActivated || ev.Bundle == nil {
		return
	}
	p.setPolicy(&activated{bundle: ev.Bundle, compiler: ev.Compiler})
}

// activated is a policy waiting for the worker: a bundle, and its compiled
// modules when the engine compiled them.
type activated struct {
	bundle   *bundle.Bundle
	compiler *ast.Compiler // nil: compile bundle
}

func (p *Pipeline) setPolicy(a *activated) {
	p.policy.Store(a)
	select {
	case p.newPolicy <- struct{}{}:
	default:
	}
}

// applyPolicy applies a policy that PolicyActivated or Follow left. A
// bundle the engine activated compiles here too; if it does not, the
// previous drop and mask policies stay, and the failure is logged.
func (p *Pipeline) applyPolicy() {
	a := p.policy.Swap(nil)
	if a == nil {
		return
	}
	c, err := a.compiler, error(nil)
	if c != nil {
		err = p.opa.useCompiled(context.Background(), c, a.bundle.Data)
	} else {
		c, err = p.opa.usePolicy(context.Background(), a.bundle)
	}
	if err == nil {
		p.useDirect(c)
	}
	if err != nil {
		p.log.Error("decision-record mask policy not updated; the previous one stays", "err", err)
	}
}

// Record hands rec to the pipeline. In best_effort mode a record that
// issues no URL never blocks and never fails; a record of an issued URL
// waits up to strict_timeout (or ctx) for a place in the queue, and returns
// ErrUnavailable (wrapped) when it found none. In strict mode it returns nil
// only once rec is stored, and ErrUnavailable (wrapped) when the sink failed
// or did not answer in time. rec must not be changed afterwards.
func (p *Pipeline) Record(ctx context.Context, rec *Record) error {
	if !p.strict && !rec.issuesURL() {
		if p.closed.Load() {
			p.stats.dropped[dropClosed].Add(1)
			return nil
		}
		p.enqueue(&item{rec: rec, shed: true})
		return nil
	}
	if p.closed.Load() {
		p.stats.failed.Add(1)
		return fmt.Errorf("%w: shutting down", ErrUnavailable)
	}
	it := &item{rec: rec}
	if p.strict {
		it.done = make(chan error, 1)
	}
	timer := time.NewTimer(p.timeout)
	defer timer.Stop()
	select {
	case p.queue <- it:
	case <-timer.C:
		p.stats.failed.Add(1)
		return fmt.Errorf("%w: the queue stayed full for %s", ErrUnavailable, p.timeout)
	case <-ctx.Done():
		p.stats.failed.Add(1)
		return fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
	if !p.strict {
		return nil // queued: it is never dropped to make room
	}
	select {
	case err := <-it.done:
		return err
	case <-timer.C:
		if !it.state.CompareAndSwap(waiting, abandoned) {
			return <-it.done // answered as the timer fired
		}
		// The worker may still store it: then it follows it with a
		// record that says what the caller got (process).
		p.stats.failed.Add(1)
		return fmt.Errorf("%w: not stored within %s", ErrUnavailable, p.timeout)
	}
}

// Strict reports whether Record waits until the record is stored.
func (p *Pipeline) Strict() bool { return p.strict }

// Timeout is how long Record waits for a place in the queue, or (strict)
// for the record to be stored.
func (p *Pipeline) Timeout() time.Duration { return p.timeout }

// enqueue sends a shed record, dropping the oldest shed records to make
// room, as OPA's event buffer does (opa#4659: an unbounded buffer is an
// OOM). Records of issued URLs wait in another queue and are never taken.
func (p *Pipeline) enqueue(it *item) {
	for range 8 {
		select {
		case p.shed <- it:
			return
		default:
		}
		select {
		case <-p.shed:
			p.stats.dropped[dropQueueFull].Add(1)
		default:
		}
	}
	p.stats.dropped[dropQueueFull].Add(1) // lost the race eight times: drop this one
}

// Close stops taking records, stores every record still queued, uploads
// what OPA still buffers, and closes the file, all within ctx. It reports
// records it could not store.
func (p *Pipeline) Close(ctx context.Context) error {
	if !p.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(p.stop)
	var errs []error
	select {
	case <-p.exited:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("audit: %d records still queued at the shutdown deadline", p.queued()))
	}
	if p.service {
		if err := p.opa.plugin.Trigger(ctx); err != nil {
			errs = append(errs, fmt.Errorf("audit: final upload: %w (%d items still buffered)", err, p.opa.buffered()))
		}
	}
	stopCtx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	p.opa.stop(stopCtx)
	if p.file != nil {
		select {
		case <-p.exited: // the worker no longer writes
			errs = append(errs, p.file.Close())
		default:
		}
	}
	return errors.Join(errs...)
}

// queued is how many records wait in front of the sink.
func (p *Pipeline) queued() int { return len(p.queue) + len(p.shed) }
