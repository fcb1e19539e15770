package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// The worker: one goroutine that takes what waits in the queue and stores
// it as one group (group commit), and reports drops.

// maxBatch bounds a group commit. A batch is whatever waits in the queue
// when the worker comes round: under load, many records share one write
// and one fsync (or one upload).
const maxBatch = 4096

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
		case it := <-p.shed:
			p.process(p.fill(append(batch[:0], it)))
		case <-p.newPolicy:
			p.applyPolicy()
		case done := <-p.reopen: // between two commits: the sink holds nothing
			done <- p.file.reopen()
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

// fill tops batch up with what waits, records of issued URLs first.
func (p *Pipeline) fill(batch []*item) []*item {
	for _, q := range []chan *item{p.queue, p.shed} {
	fromQ:
		for len(batch) < p.batch {
			select {
			case it := <-q: // a nil shed (strict) is never ready
				batch = append(batch, it)
			default:
				break fromQ
			}
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
	if p.service && !p.strict {
		batch = p.shedForIssued(batch)
	}
	if p.direct != nil {
		p.encodeBatch(ctx, batch)
	} else {
		for _, it := range batch {
			it.err = p.logRecord(ctx, it.rec)
		}
	}
	commitErr := p.commit(ctx, dropped)
	var failed, late []*item
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
			if it.state.CompareAndSwap(waiting, answered) {
				it.done <- it.err
			} else if it.err == nil {
				late = append(late, it) // stored, but its caller already got 503
			}
		}
	}
	p.commitTime.Observe(time.Since(start).Seconds())
	p.batchSize.Observe(float64(len(batch)))
	if len(late) > 0 {
		p.log.Error("audit records stored after their requests got 503 audit_unavailable; each is followed by a 503 record",
			"records", len(late), "decision_id", late[0].rec.DecisionID)
		p.compensate(ctx, late)
	}
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

// shedForIssued keeps shed records out of OPA's upload buffer once it is
// three-quarters full, so that the buffer, which drops its oldest item
// when full, keeps its last quarter for records of issued URLs.
func (p *Pipeline) shedForIssued(batch []*item) []*item {
	kept := batch[:0]
	n := p.opa.buffered()
	for _, it := range batch {
		if it.shed && n >= p.reserve {
			p.stats.dropped[dropReserved].Add(1)
			continue
		}
		kept = append(kept, it)
		n++
	}
	return kept
}

// errNotLogged: OPA's plugin returned without handing the event on, which
// it does when the drop policy drops it or the mask policy fails.
var errNotLogged = errors.New("the drop policy dropped the record, or the mask policy failed")

// logRecord adds rec to the open batch: through the direct path for the
// console and file sinks, through OPA's plugin for the service sink.
func (p *Pipeline) logRecord(ctx context.Context, rec *Record) (err error) {
	if p.direct == nil {
		return p.logRecordOPA(ctx, rec)
	}
	// A record that panics is a record not stored, as on the helpers of
	// encodeBatch: its caller gets what a failed record gives, and the
	// worker, which every other record needs, lives on.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("audit: encoding the record panicked: %v", r)
		}
	}()
	b, dropped, err := p.direct.appendRecord(ctx, &p.direct.scratch[0], p.sink.buf.AvailableBuffer(), rec)
	if err = p.directOutcome(rec, dropped, err); err == nil {
		p.sink.add(b, 1)
	}
	return err
}

// directOutcome is what logRecordOPA would return for a record that the
// direct path dropped or failed on: errNotLogged when a policy kept it out.
func (p *Pipeline) directOutcome(rec *Record, dropped bool, err error) error {
	switch {
	case dropped:
		return errNotLogged
	case errors.Is(err, errPolicy):
		p.log.Error("decision record not written", "decision_id", rec.DecisionID, "err", err)
		return errNotLogged
	}
	return err
}

// parallelRecords is the fewest records a helper takes: a batch of fewer
// than twice as many is encoded by the worker alone.
const parallelRecords = 8

// encodeBatch logs the batch's records through the direct path, with up
// to GOMAXPROCS goroutines for a large batch: each encodes a run of
// consecutive records into its own buffer, and the buffers join the sink's
// batch in order, so the records keep their order. Every record is masked
// by the policy the worker applied before the batch.
func (p *Pipeline) encodeBatch(ctx context.Context, batch []*item) {
	n := min(len(p.direct.scratch), len(batch)/parallelRecords)
	if n < 2 {
		for _, it := range batch {
			it.err = p.logRecord(ctx, it.rec)
		}
		return
	}
	size := (len(batch) + n - 1) / n
	counts := make([]int, n)
	var wg sync.WaitGroup
	for g := range n {
		run := batch[min(g*size, len(batch)):min((g+1)*size, len(batch))]
		s := &p.direct.scratch[g]
		wg.Go(func() {
			buf := s.buf[:0]
			done := 0
			defer func() {
				s.buf = buf
				if r := recover(); r != nil {
					for _, it := range run[done:] {
						it.err = fmt.Errorf("audit: encoding the record panicked: %v", r)
					}
				}
			}()
			for _, it := range run {
				next, dropped, err := p.direct.appendRecord(ctx, s, buf, it.rec)
				if it.err = p.directOutcome(it.rec, dropped, err); it.err == nil {
					buf = next
					counts[g]++
				}
				done++
			}
		})
	}
	wg.Wait()
	for g := range n {
		s := &p.direct.scratch[g]
		p.sink.add(s.buf, counts[g])
		if cap(s.buf) > maxHelperBuffer {
			s.buf = nil // a rare huge group: do not keep its memory
		}
	}
}

// maxHelperBuffer is the most a helper's buffer keeps between groups.
const maxHelperBuffer = 1 << 20

// logRecordOPA runs rec through OPA's decision-log plugin, which hands the
// event to the sink (or, for the service sink, to its upload buffer).
func (p *Pipeline) logRecordOPA(ctx context.Context, rec *Record) error {
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

// compensate follows each record of a failed strict commit, or of a commit
// that came after its caller's strict_timeout, with a record of the same
// decision that says what the caller got: 503 audit_unavailable, no expiry.
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
