package authz

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
)

// Decisions are evaluated on a few long-lived goroutines of the engine
// instead of on the caller's. One evaluation of a real policy grows a
// goroutine's stack to a few hundred KiB, and a stack keeps its size until
// a garbage collection finds it mostly unused: with every request
// evaluating on its own goroutine, each request in flight held that much
// stack, and so did every idle keep-alive connection whose goroutine had
// served one. On the evaluators only a handful of stacks grow, once.
//
// There are twice GOMAXPROCS evaluators, at least four: evaluation is CPU
// work, so more would only queue on the cores, and a batch's items
// (server/batch.go) still decide on every core. The evaluators start on
// the first decision and stop on Close, or once the engine is garbage.

// evaluators is the engine's pool of evaluating goroutines, started on
// first use.
type evaluators struct {
	once sync.Once
	pool *evalPool // nil before the first decision, and after Close
}

// evalPool is the pool itself; it never refers to its engine, so that an
// engine no one uses can be collected and its evaluators stopped.
//
// The idle evaluators are a stack, last in first out: the one that served
// the last decision serves the next, with its stack still grown, and the
// others stay idle, so that garbage collections shrink their stacks. (A
// shared channel would rotate the work over all of them, and each would
// grow its stack again after every collection.)
type evalPool struct {
	slots chan struct{} // one per evaluator busy or promised a job
	quit  chan struct{}
	stop  sync.Once
	wg    sync.WaitGroup
	free  sync.Pool // *evalJob

	mu     sync.Mutex
	idle   []*evaluator
	closed bool
}

// evaluator is one evaluating goroutine.
type evaluator struct {
	jobs chan *evalJob // one job at a time, sent by the holder of a slot
}

// evalJob is one decision handed to an evaluator, and its answer.
type evalJob struct {
	e   *Engine
	ctx context.Context
	rev *revision
	in  *Input

	d        Decision
	err      error
	panicked *EvalPanic
	done     chan struct{} // one token when the answer is ready
}

// EvalPanic is the value Decide panics with when the evaluation of a
// decision panicked: the evaluator's panic, carried back to the caller's
// goroutine with the stack it was raised on.
type EvalPanic struct {
	Value any
	Stack []byte // the evaluator's stack when it panicked
}

func (p *EvalPanic) Error() string {
	return fmt.Sprintf("authz: evaluation panicked: %v\n\nevaluator stack:\n%s", p.Value, p.Stack)
}

// Unwrap is the panic's value when it was an error.
func (p *EvalPanic) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}

// decide evaluates in against rev on one of e's evaluators, and waits for
// the answer. It returns ctx's error, as Decide does before evaluating,
// when ctx ends while every evaluator is busy; during the evaluation, ctx
// cancels it as it would on the caller's goroutine. A panic of the
// evaluation panics here, as an *EvalPanic.
func (e *Engine) decide(ctx context.Context, rev *revision, in *Input) (Decision, error) {
	p := e.evalPool()
	if p == nil { // closed: evaluate here
		return e.eval(ctx, rev, in)
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return Decision{Revision: rev.id}, fmt.Errorf("authz: not evaluated: %w", ctx.Err())
	case <-p.quit:
		return e.eval(ctx, rev, in)
	}
	w := p.evaluator()
	if w == nil { // closed meanwhile
		<-p.slots
		return e.eval(ctx, rev, in)
	}
	j := p.free.Get().(*evalJob)
	j.e, j.ctx, j.rev, j.in = e, ctx, rev, in
	w.jobs <- j
	<-j.done // the evaluation itself stops when ctx ends
	<-p.slots
	d, err, panicked := j.d, j.err, j.panicked
	*j = evalJob{done: j.done} // hold on to nothing of the decision
	p.free.Put(j)
	if panicked != nil {
		panic(panicked)
	}
	return d, err
}

// Close stops e's evaluators, waiting for the decisions they are
// evaluating. Decisions asked after Close are evaluated on the caller's
// goroutine. An engine that is no longer used stops its evaluators
// without Close, once it is garbage collected.
func (e *Engine) Close() {
	e.workers.once.Do(func() {}) // none start after Close
	if p := e.workers.pool; p != nil {
		p.close()
	}
}

// evalPool is e's pool, started on first use; nil after Close.
func (e *Engine) evalPool() *evalPool {
	e.workers.once.Do(func() {
		p := &evalPool{
			slots: make(chan struct{}, max(4, 2*runtime.GOMAXPROCS(0))),
			quit:  make(chan struct{}),
		}
		p.free.New = func() any { return &evalJob{done: make(chan struct{}, 1)} }
		// The cleanup gets the pool, never e: e stays collectable.
		runtime.AddCleanup(e, func(p *evalPool) { p.close() }, p)
		e.workers.pool = p
	})
	return e.workers.pool
}

func (p *evalPool) close() {
	p.stop.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		close(p.quit)
	})
	p.wg.Wait()
}

// evaluator is the last idle evaluator, or a new one: the caller holds a
// slot, so there are never more evaluators than slots. It is nil once the
// pool is closed.
func (p *evalPool) evaluator() *evaluator {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return w
	}
	w := &evaluator{jobs: make(chan *evalJob, 1)}
	p.wg.Add(1)
	go p.work(w)
	return w
}

// work is the goroutine of w: it runs jobs until the pool closes.
func (p *evalPool) work(w *evaluator) {
	defer p.wg.Done()
	for {
		select {
		case j := <-w.jobs:
			if !j.run(p, w) {
				// The evaluation called runtime.Goexit: this goroutine is
				// ending, and w with it.
				return
			}
		case <-p.quit:
			p.mu.Lock()
			i := slices.Index(p.idle, w)
			if i >= 0 {
				p.idle = slices.Delete(p.idle, i, i+1)
			}
			p.mu.Unlock()
			if i < 0 { // taken just before the pool closed: its job is on the way
				(<-w.jobs).run(p, w)
			}
			return
		}
	}
}

// run evaluates j on w and hands the answer back, even when the
// evaluation panics or ends its goroutine; w is idle again before the
// answer is, so that the caller's slot finds it. run reports whether w's
// goroutine goes on.
func (j *evalJob) run(p *evalPool, w *evaluator) (ok bool) {
	defer func() {
		if !ok {
			if r := recover(); r != nil {
				j.panicked = &EvalPanic{Value: r, Stack: debug.Stack()}
				ok = true
			} else { // runtime.Goexit
				j.panicked = &EvalPanic{Value: "the evaluation ended its goroutine"}
			}
		}
		if ok {
			p.mu.Lock()
			p.idle = append(p.idle, w)
			p.mu.Unlock()
		}
		j.done <- struct{}{}
	}()
	j.d, j.err = j.e.eval(j.ctx, j.rev, j.in)
	return true
}
