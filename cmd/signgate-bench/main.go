// Command signgate-bench measures signgate beside what a user would run
// instead: an OPA server answering only the decision, with signing left to
// the application. It generates 100 teams and 1,000 connectors, starts both
// servers on 127.0.0.1 from this checkout, drives them in alternating
// phases from one process, and prints the ratios and one SUMMARY line.
// docs/performance.md explains each figure and the targets.
//
//	go run ./cmd/signgate-bench            # about 3 minutes
//	go run ./cmd/signgate-bench -quick     # about 20 seconds, a smoke run
//
// It is a program, not a test: go test ./... never starts it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		fmt.Fprintln(os.Stderr, "signgate-bench:", err)
		os.Exit(1)
	}
}

// options are the knobs of one run. Every phase is bounded in time, and the
// whole run by timeout.
type options struct {
	duration   time.Duration // measured part of each load phase
	warmup     time.Duration // unmeasured lead-in of a closed-loop phase
	rounds     int           // alternating signgate/OPA rounds
	conns      int           // closed-loop connections
	rates      []int         // extra open-loop rates, req/s, without a target
	fixedShare float64       // the open-loop rate with a target, as a share of OPA's closed-loop req/s
	goBench    bool          // also run the go test -bench ratios
	olWorkers  int           // open-loop senders: the most requests in flight
	batchRuns  int           // measured batches per kind
	timeout    time.Duration // the whole run, builds included
	keep       bool          // keep the temporary directory
	signgate   string        // prebuilt signgate binary; empty builds ./cmd/signgate
	opa        string        // prebuilt OPA binary; empty uses `go tool -n opa`
	auditSink  string        // console (the product default), or none to see what records cost
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("signgate-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := options{}
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measured duration of each load phase")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured warm-up before each closed-loop phase (open-loop phases use half)")
	fs.IntVar(&o.rounds, "rounds", 3, "alternating rounds of signgate and OPA phases")
	fs.IntVar(&o.conns, "conns", 16, "closed-loop connections")
	rates := fs.String("rates", "", "extra open-loop fixed rates in req/s, comma-separated (reported without a target)")
	fs.Float64Var(&o.fixedShare, "fixed-share", 0.6, "the open-loop rate with a p99 target, as a share of OPA's measured closed-loop req/s")
	fs.BoolVar(&o.goBench, "go-bench", true, "after the load, run the two go test -bench ratios (policy and record cost)")
	fs.IntVar(&o.olWorkers, "ol-workers", 128, "open-loop senders (the most requests in flight, and connections)")
	fs.IntVar(&o.batchRuns, "batch-runs", 5, "measured /v1/sign/batch requests per kind (after one warm-up)")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "hard limit on the whole run, builds included")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (config, bundle, binaries) and print its path")
	fs.StringVar(&o.signgate, "signgate-bin", "", "use this signgate binary instead of building ./cmd/signgate")
	fs.StringVar(&o.opa, "opa-bin", "", "use this opa binary instead of the OPA pinned in go.mod (go tool opa)")
	fs.StringVar(&o.auditSink, "audit-sink", "console", "signgate's audit sink: console (default, part of the measured cost) or none (diagnostic only: not comparable with the targets)")
	quick := fs.Bool("quick", false, "smoke run of about 20 s: 1 round, 1.5 s phases, 3 batches")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *quick {
		o.duration, o.warmup, o.rounds, o.batchRuns = 1500*time.Millisecond, 300*time.Millisecond, 1, 3
	}
	for _, s := range strings.Split(*rates, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		r, err := strconv.Atoi(s)
		if err != nil || r < 1 || r > 100_000 {
			return o, fmt.Errorf("-rates: want integers from 1 to 100000, got %q", s)
		}
		o.rates = append(o.rates, r)
	}
	switch {
	case o.duration < 100*time.Millisecond || o.duration > 2*time.Minute:
		return o, errors.New("-duration: want 100ms to 2m")
	case o.warmup < 0 || o.warmup > time.Minute:
		return o, errors.New("-warmup: want 0 to 1m")
	case o.rounds < 1 || o.rounds > 20:
		return o, errors.New("-rounds: want 1 to 20")
	case o.conns < 1 || o.conns > 1024:
		return o, errors.New("-conns: want 1 to 1024")
	case o.olWorkers < 1 || o.olWorkers > 4096:
		return o, errors.New("-ol-workers: want 1 to 4096")
	case o.batchRuns < 1 || o.batchRuns > 100:
		return o, errors.New("-batch-runs: want 1 to 100")
	case o.fixedShare <= 0 || o.fixedShare > 1:
		return o, errors.New("-fixed-share: want more than 0 and at most 1")
	case o.auditSink != "console" && o.auditSink != "none":
		return o, errors.New("-audit-sink: want console or none")
	case o.timeout < 10*time.Second:
		return o, errors.New("-timeout: want at least 10s")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	printMachine(stdout, o)
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "signgate-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintf(stdout, "dir       %s (kept: -keep)\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	fx, err := writeFixture(root, dir, o.auditSink)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "fixture   %d teams, %d connectors (%s), %d API keys, bundle %s\n",
		fx.teams, fx.connectors, fx.providerMix, fx.apiKeys, fx.bundleDir)

	sgBin, opaBin, err := binaries(ctx, root, dir, o, stdout)
	if err != nil {
		return err
	}
	sg, err := startSigngate(ctx, sgBin, dir, fx)
	if err != nil {
		return err
	}
	defer sg.Stop()
	op, err := startOPA(ctx, opaBin, dir, fx)
	if err != nil {
		return err
	}
	defer op.Stop()
	fmt.Fprintf(stdout, "servers   signgate pid %d on %s (ready in %s, VmRSS %s)\n",
		sg.PID(), sg.base, sg.readyIn.Round(time.Millisecond), mib(readMem(sg.PID()).rss))
	fmt.Fprintf(stdout, "          opa      pid %d on %s (ready in %s, VmRSS %s)\n",
		op.PID(), op.base, op.readyIn.Round(time.Millisecond), mib(readMem(op.PID()).rss))

	b := newBench(o, fx, sg, op, stdout)
	if err := b.sanity(ctx); err != nil {
		return err
	}
	res, err := b.measure(ctx)
	if err != nil {
		return err
	}
	// Stopping signgate flushes its audit sink, so the record count is final.
	sg.Stop()
	res.audit = b.auditCheck()
	res.logBytes, res.logLines = sg.stderr.Counts()
	op.Stop()
	if o.goBench {
		res.goBench = runGoBench(ctx, root, stdout)
	}
	report(stdout, o, res)
	return nil
}

// printMachine heads the output: where and when the numbers were taken.
func printMachine(w io.Writer, o options) {
	model := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	host, _ := os.Hostname()
	fmt.Fprintf(w, "signgate-bench  %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "machine   nproc=%d  cpu=%q  host=%s  load=%s  %s\n", nproc(), model, host, loadavg(), runtime.Version())
	fmt.Fprintf(w, "run       %d round(s) x %s phases (+%s warm-up), %d conns closed-loop, open loop at %.0f%% of OPA's capacity (extra rates %v), %d batch runs, audit sink %s\n",
		o.rounds, o.duration, o.warmup, o.conns, 100*o.fixedShare, o.rates, o.batchRuns, o.auditSink)
}
