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

	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/signgate/signgate/server/config"
)

// CodeUnavailable is the problem code of a strict request whose record
// could not be stored: 503, and no URL.
const CodeUnavailable = "audit_unavailable"

// ErrUnavailable is returned by a strict Pipeline's Record when the record
// was not stored; the caller must not hand out what the record describes.
var ErrUnavailable = errors.New("audit: record not stored")

// maxBatch bounds a group commit. A batch is whatever waits in the queue
// when the worker comes round: under load, many records share one write
// and one fsync (or one upload).
const maxBatch = 4096

// Pipeline takes decision records from the handlers and stores them. The
// request path only sends a pointer on a channel; one worker goroutine
// turns records into OPA events, runs them through OPA's decision-log
// plugin (drop and mask policies, then the sink or the upload buffer) and
// commits them in groups.
//
// best_effort: Record never blocks; a full queue drops its oldest record,
// and OPA's upload buffer does the same. strict: Record returns only once
// the record is stored (written and fsynced, or acknowledged by the
// decision-log service), or ErrUnavailable.
type Pipeline struct {
	strict  bool
	service bool
	timeout time.Duration
	queue   chan *item
	batch   int // the most records per group commit
	stop    chan struct{}
	exited  chan struct{}
	closed  atomic.Bool

	policy    atomic.Pointer[bundle.Bundle] // activated, not yet applied
	newPolicy chan struct{}

	opa  *opaLogs
	sink *sink
	file *rotatingFile
	log  *slog.Logger
	now  func() time.Time

	stats      stats
	commitTime prometheus.Histogram
	batchSize  prometheus.Histogram
	sinkName   string
}

// item is one record on its way; done is set in strict mode only.
type item struct {
	rec  *Record
	done chan error
	err  error
}

// Option changes how a Pipeline is built.
type Option func(*options)

type options struct {
	log        *slog.Logger
	reg        prometheus.Registerer
	stdout     io.Writer
	now        func() time.Time
	token      string
	instanceID string
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
func WithServiceToken(token string) Option { return func(o *options) { o.token = token } }

// New starts a pipeline for cfg (audit.sink is console, file or service;
// "none" needs no pipeline). It opens the file or checks nothing about the
// service: a service that is down is found out by the first upload.
func New(ctx context.Context, cfg config.Audit, opts ...Option) (*Pipeline, error) {
	o := options{log: slog.New(slog.DiscardHandler), stdout: os.Stdout, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	id := cfg.InstanceID
	if id == "" {
		id, _ = os.Hostname()
	}
	p := &Pipeline{
		strict:    cfg.Mode == "strict",
		service:   cfg.Sink == "service",
		timeout:   cfg.StrictTimeout.Duration,
		queue:     make(chan *item, cfg.BufferSize),
		batch:     min(maxBatch, cfg.BufferSize),
		stop:      make(chan struct{}),
		exited:    make(chan struct{}),
		newPolicy: make(chan struct{}, 1),
		log:       o.log,
		now:       o.now,
		sinkName:  cfg.Sink,
	}
	switch cfg.Sink {
	case "console":
		p.sink = newSink(o.stdout, nil)
	case "file":
		f, err := openRotating(cfg.Path, int64(cfg.Rotation.MaxSizeMB)<<20, cfg.Rotation.MaxBackups, o.now)
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
	if p.opa, err = newOPALogs(ctx, cfg, o.token, id, p.sink, o.log); err != nil {
		if p.file != nil {
			p.file.Close()
		}
		return nil, err
	}
	p.registerMetrics(o.reg)
	go p.run()
	return p, nil
}

// UsePolicy makes the drop and mask policies of b (data.system.log.drop,
// data.system.log.mask) apply to the records that follow, once it returns.
func (p *Pipeline) UsePolicy(ctx context.Context, b *bundle.Bundle) error {
	return p.opa.usePolicy(ctx, b)
}

// PolicyActivated is UsePolicy for the engine's observer: it returns at
// once, and the worker applies b before it logs another record. When
// bundles come faster than that, only the latest is applied.
func (p *Pipeline) PolicyActivated(b *bundle.Bundle) {
	p.policy.Store(b)
	select {
	case p.newPolicy <- struct{}{}:
	default:
	}
}

// applyPolicy applies a bundle that PolicyActivated left. A bundle the
// engine activated compiles here too; if it does not, the previous drop
// and mask policies stay, and the failure is logged.
func (p *Pipeline) applyPolicy() {
	b := p.policy.Swap(nil)
	if b == nil {
		return
	}
	if err := p.opa.usePolicy(context.Background(), b); err != nil {
		p.log.Error("decision-record mask policy not updated; the previous one stays", "err", err)
	}
}

// Record hands rec to the pipeline. In best_effort mode it never blocks and
// never fails. In strict mode it returns nil only once rec is stored, and
// ErrUnavailable (wrapped) when the sink failed or did not answer in time.
// rec must not be changed afterwards.
func (p *Pipeline) Record(ctx context.Context, rec *Record) error {
	if !p.strict {
		if p.closed.Load() {
			p.stats.dropped[dropClosed].Add(1)
			return nil
		}
		p.enqueue(&item{rec: rec})
		return nil
	}
	if p.closed.Load() {
		p.stats.failed.Add(1)
		return fmt.Errorf("%w: shutting down", ErrUnavailable)
	}
	it := &item{rec: rec, done: make(chan error, 1)}
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
	select {
	case err := <-it.done:
		return err
	case <-timer.C:
		p.stats.failed.Add(1)
		return fmt.Errorf("%w: not stored within %s", ErrUnavailable, p.timeout)
	}
}

// enqueue sends it, dropping the oldest queued records to make room, as
// OPA's event buffer does (opa#4659: an unbounded buffer is an OOM).
func (p *Pipeline) enqueue(it *item) {
	for range 8 {
		select {
		case p.queue <- it:
			return
		default:
		}
		select {
		case <-p.queue:
			p.stats.dropped[dropQueueFull].Add(1)
		default:
		}
	}
	p.stats.dropped[dropQueueFull].Add(1) // lost the race eight times: drop this one
}

// run is the worker: it takes what is queued, up to maxBatch, and commits
// it as one group.
func (p *Pipeline) run() {
	defer close(p.exited)
	batch := make([]*item, 0, 64)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var drops dropReport
	for {
		select {
		case it := <-p.queue:
			p.process(p.fill(append(batch[:0], it)))
		case <-p.newPolicy:
			p.applyPolicy()
		case <-tick.C:
			p.reportDrops(&drops, false)
		case <-p.stop:
			for {
				batch = p.fill(batch[:0])
				if len(batch) == 0 {
					p.reportDrops(&drops, true)
					return
				}
				p.process(batch)
			}
		}
	}
}

func (p *Pipeline) fill(batch []*item) []*item {
	for len(batch) < p.batch {
		select {
		case it := <-p.queue:
			batch = append(batch, it)
		default:
			return batch
		}
	}
	return batch
}

// process logs every record of the batch through OPA's plugin, commits the
// batch once, and answers every strict waiter.
func (p *Pipeline) process(batch []*item) {
	p.applyPolicy() // records that follow an activation are masked by it
	start := time.Now()
	ctx := context.Background()
	dropped := p.opa.counter(opaDroppedBufferFull)
	for _, it := range batch {
		it.err = p.logRecord(ctx, it.rec)
	}
	commitErr := p.commit(ctx, dropped)
	var failed []*item
	for _, it := range batch {
		err := it.err
		if err == nil && commitErr != nil {
			err = commitErr
		}
		if err != nil {
			it.err = fmt.Errorf("%w: %w", ErrUnavailable, err)
			failed = append(failed, it)
		} else {
			p.stats.written.Add(1)
		}
		if it.done != nil {
			it.done <- it.err
		}
	}
	p.commitTime.Observe(time.Since(start).Seconds())
	p.batchSize.Observe(float64(len(batch)))
	if len(failed) == 0 {
		return
	}
	if p.strict {
		p.stats.failed.Add(uint64(len(failed)))
		p.log.Error("audit records not stored; their requests got 503 audit_unavailable",
			"records", len(failed), "decision_id", failed[0].rec.DecisionID, "err", failed[0].err)
		if commitErr != nil {
			p.compensate(ctx, failed)
		}
		return
	}
	p.stats.dropped[dropSinkError].Add(uint64(len(failed)))
	p.log.Error("audit records not written", "records", len(failed), "decision_id", failed[0].rec.DecisionID, "err", failed[0].err)
}

// errNotLogged: OPA's plugin returned without handing the event on, which
// it does when the drop policy drops it or the mask policy fails.
var errNotLogged = errors.New("the drop policy dropped the record, or the mask policy failed")

func (p *Pipeline) logRecord(ctx context.Context, rec *Record) error {
	seen, mark := p.sink.seen, p.sink.mark()
	if err := p.opa.plugin.Log(ctx, rec.info()); err != nil {
		p.sink.truncate(mark)
		return err
	}
	if p.sink.seen == seen {
		return errNotLogged
	}
	return nil
}

// commit stores the batch: one write (and one fsync in strict mode) for a
// file, one triggered upload for a strict service. A best_effort service
// commits nothing here: OPA uploads its buffer on its own schedule.
//
// dropped is OPA's count of buffer drops before the batch was logged: a
// strict batch fails when it moved, because the dropped event may be one
// of the batch, which the upload then did not carry.
func (p *Pipeline) commit(ctx context.Context, dropped uint64) error {
	if !p.service {
		return p.sink.commit(p.strict)
	}
	if !p.strict {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if err := p.opa.plugin.Trigger(ctx); err != nil {
		return err
	}
	if p.opa.counter(opaDroppedBufferFull) != dropped {
		return errors.New("OPA's upload buffer overflowed")
	}
	return nil
}

// compensate follows each record of a failed strict commit with a record of
// the same decision that says what the caller got: 503 audit_unavailable.
// A record whose commit failed may still surface (OPA requeues a failed
// upload and retries it; a failed fsync may have written), and it would
// otherwise claim a URL that was never handed out. Best effort: these
// records go the same way as the ones they follow.
func (p *Pipeline) compensate(ctx context.Context, failed []*item) {
	for _, it := range failed {
		c := *it.rec
		c.Status, c.Error = 503, CodeUnavailable
		c.ExpiresAt, c.ExpiryClampedBy = time.Time{}, ""
		c.Timestamp = p.now().UTC()
		_ = p.logRecord(ctx, &c)
	}
	if !p.service {
		_ = p.sink.commit(true)
	}
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
		errs = append(errs, fmt.Errorf("audit: %d records still queued at the shutdown deadline", len(p.queue)))
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

// dropReport is what the log last said about drops.
type dropReport struct {
	counts [numDropReasons]uint64
	at     time.Time
}

// dropReportEvery spaces the drop log lines, so that a flood of drops
// cannot flood the log; the first drop is reported within a second.
const dropReportEvery = 10 * time.Second

// reportDrops logs the records dropped since the last report, by reason.
func (p *Pipeline) reportDrops(last *dropReport, final bool) {
	if !final && time.Since(last.at) < dropReportEvery {
		return
	}
	now := p.dropCounts()
	var args []any
	for r := range numDropReasons {
		if d := now[r] - last.counts[r]; d > 0 {
			args = append(args, dropReasonNames[r], d)
		}
	}
	if len(args) == 0 {
		return
	}
	last.counts, last.at = now, time.Now()
	p.log.Warn("audit records dropped (best_effort)", args...)
}
