package authz

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/types"
)

var errHookBug = errors.New("hook bug")

// hookEngine is an engine whose active policy denies every request after
// calling test_hook(object); hook decides what that call does.
func hookEngine(t *testing.T, hook func(bctx rego.BuiltinContext, object string)) *Engine {
	t.Helper()
	fn := rego.Function1(&rego.Function{Name: "test_hook", Decl: types.NewFunction(types.Args(types.S), types.B)},
		func(bctx rego.BuiltinContext, a *ast.Term) (*ast.Term, error) {
			s, _ := a.Value.(ast.String)
			hook(bctx, string(s))
			return ast.BooleanTerm(true), nil
		})
	pq, err := rego.New(rego.Query(Query), fn, rego.Module("hook.rego", `package signgate.authz

decision := {"allow": false, "reasons": ["unknown_team"]} if test_hook(input.action.object)
`)).PrepareForEval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e := New()
	e.active.Store(&revision{query: pq, id: "r-hook", source: "under-test"})
	t.Cleanup(e.Close)
	return e
}

func hookInput(object string) *Input {
	return &Input{
		Subject: Subject{ID: "alice", Teams: []string{"vision"}, AuthMethod: "api_key"},
		Action:  Action{Team: "vision", Operation: "read", Object: object},
		Time:    "2026-11-27T10:00:00Z",
	}
}

// poolSize is the number of evaluators of e's pool, once started.
func poolSize(e *Engine) int { return cap(e.evalPool().slots) }

func TestAPanicOfTheEvaluationPanicsTheCaller(t *testing.T) {
	e := hookEngine(t, func(_ rego.BuiltinContext, object string) {
		if object == "trap" {
			panic(errHookBug)
		}
	})
	for range 2 { // the pool survives: the second panic is carried back as the first
		func() {
			defer func() {
				r := recover()
				p, ok := r.(*EvalPanic)
				if !ok {
					t.Fatalf("recovered %T %v, want an *EvalPanic", r, r)
				}
				if !errors.Is(p, errHookBug) || !strings.Contains(p.Error(), "hook bug") || !strings.Contains(string(p.Stack), "pool_test.go") {
					t.Fatalf("panic %v, want the hook's error with the evaluator's stack", p)
				}
			}()
			_, _ = e.Decide(context.Background(), hookInput("trap"))
			t.Fatal("Decide returned instead of panicking")
		}()
	}
	d, err := e.Decide(context.Background(), hookInput("fine"))
	if err != nil || d.Allow || d.Revision != "r-hook" {
		t.Fatalf("after the panics: %+v, %v; want the policy's denial", d, err)
	}
}

func TestTheCallersContextIsHonoured(t *testing.T) {
	t.Run("while every evaluator is busy", func(t *testing.T) {
		for _, tt := range []struct {
			name    string
			wantErr error
			ctx     func() (context.Context, context.CancelFunc)
		}{
			{name: "cancelled", wantErr: context.Canceled, ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(10*time.Millisecond, cancel)
				return ctx, cancel
			}},
			{name: "deadline", wantErr: context.DeadlineExceeded, ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 10*time.Millisecond)
			}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				e := hookEngine(t, func(rego.BuiltinContext, string) {})
				p := e.evalPool()
				for range poolSize(e) { // every slot taken, as by busy evaluators
					p.slots <- struct{}{}
				}
				ctx, cancel := tt.ctx()
				defer cancel()
				d, err := e.Decide(ctx, hookInput("a"))
				if !errors.Is(err, tt.wantErr) || !strings.HasPrefix(err.Error(), "authz: not evaluated") || d.Allow || d.Revision != "r-hook" {
					t.Fatalf("got %+v, %v; want a denial not evaluated: %v", d, err, tt.wantErr)
				}
				for range poolSize(e) {
					<-p.slots
				}
				if _, err := e.Decide(context.Background(), hookInput("a")); err != nil {
					t.Fatalf("with the evaluators free again: %v", err)
				}
			})
		}
	})
	t.Run("during the evaluation", func(t *testing.T) {
		started := make(chan struct{})
		e := hookEngine(t, func(bctx rego.BuiltinContext, object string) {
			if object == "wait" {
				close(started)
				<-bctx.Context.Done()
			}
		})
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-started; cancel() }()
		d, err := e.Decide(ctx, hookInput("wait"))
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrPolicy) || d.Allow {
			t.Fatalf("got %+v, %v; want the evaluation stopped by the cancellation", d, err)
		}
	})
}

func TestEvaluationsRunOnEveryCore(t *testing.T) {
	// Each evaluation waits in the hook until want of them are there: with
	// fewer evaluators, they would never all meet.
	want := max(runtime.GOMAXPROCS(0), 2)
	var mu sync.Mutex
	in := 0
	met := make(chan struct{})
	e := hookEngine(t, func(_ rego.BuiltinContext, _ string) {
		mu.Lock()
		if in++; in == want {
			close(met)
		}
		mu.Unlock()
		select {
		case <-met:
		case <-time.After(5 * time.Second):
		}
	})
	if n := poolSize(e); n < want {
		t.Fatalf("%d evaluators for GOMAXPROCS %d", n, runtime.GOMAXPROCS(0))
	}
	var wg sync.WaitGroup
	for range want {
		wg.Go(func() {
			if _, err := e.Decide(context.Background(), hookInput("a")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	select {
	case <-met:
	default:
		t.Fatalf("the %d evaluations never ran at the same time", want)
	}
}

// settledGoroutines is the number of goroutines once it is at most below,
// or after two seconds or so.
func settledGoroutines(below int) int {
	n := runtime.NumGoroutine()
	for i := 0; i < 200 && n > below; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

func TestTheEvaluatorsStop(t *testing.T) {
	busy := func(e *Engine) {
		var wg sync.WaitGroup
		for range 4 * poolSize(e) {
			wg.Go(func() {
				if _, err := e.Decide(context.Background(), hookInput("a")); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	t.Run("on Close, and later decisions are evaluated by the caller", func(t *testing.T) {
		before := runtime.NumGoroutine()
		e := hookEngine(t, func(rego.BuiltinContext, string) {})
		busy(e)
		if runtime.NumGoroutine() <= before {
			t.Fatal("no evaluator started")
		}
		e.Close()
		if n := settledGoroutines(before); n > before {
			t.Fatalf("%d goroutines after Close, %d before the engine", n, before)
		}
		d, err := e.Decide(context.Background(), hookInput("a"))
		if err != nil || d.Revision != "r-hook" {
			t.Fatalf("after Close: %+v, %v", d, err)
		}
		e.Close() // twice is fine
	})
	t.Run("when the engine is garbage", func(t *testing.T) {
		rev := hookEngine(t, func(rego.BuiltinContext, string) {}).active.Load()
		before := runtime.NumGoroutine()
		// hookEngine's engine is closed when the test ends; this one never is.
		e := New()
		e.active.Store(rev)
		busy(e)
		e = nil
		if n := settledGoroutines(before); n > before {
			t.Fatalf("%d goroutines once the engine is garbage, %d before", n, before)
		}
	})
	t.Run("not on a swap of revisions", func(t *testing.T) {
		before := runtime.NumGoroutine()
		e := hookEngine(t, func(rego.BuiltinContext, string) {})
		rev := e.active.Load()
		for range 10 {
			e.active.Store(&revision{query: rev.query, id: "r-next", source: "under-test"})
			busy(e)
		}
		if n := runtime.NumGoroutine(); n > before+poolSize(e) {
			t.Fatalf("%d goroutines after 10 swaps, %d before the engine, %d evaluators", n, before, poolSize(e))
		}
	})
}
