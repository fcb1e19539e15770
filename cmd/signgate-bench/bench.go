package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// bench drives the two running servers.
type bench struct {
	o      options
	fx     *fixture
	sg, op *proc
	w      io.Writer
	m      *meter
	sign   *target // signgate POST /v1/sign: the S3 team, read
	decide *target // OPA POST /v1/data/signgate/authz/decision: the same inputs

	// decisions counts the decisions signgate answered (200 or 403), for
	// the audit record check.
	decisions atomic.Int64
}

const bodyPool = 256

func newBench(o options, fx *fixture, sg, op *proc, w io.Writer) *bench {
	b := &bench{o: o, fx: fx, sg: sg, op: op, w: w, m: &meter{sg: sg.PID(), opa: op.PID()}}
	b.sign = &target{system: "signgate", url: sg.base + "/v1/sign", auth: "Bearer " + fx.apiKey, decisions: &b.decisions}
	b.decide = &target{system: "opa", url: op.base + "/v1/data/signgate/authz/decision"}
	now := time.Now().UTC().Format(time.RFC3339)
	for i := range bodyPool {
		req := signRequest(benchS3Team, objectName(i))
		b.sign.bodies = append(b.sign.bodies, mustJSON(req))
		b.decide.bodies = append(b.decide.bodies, mustJSON(map[string]any{"input": policyInput(fx, req, now)}))
	}
	return b
}

func objectName(i int) string { return fmt.Sprintf("runs/%d/model-%03d.pt", 1000+i, i%97) }

func signRequest(team, object string) map[string]any {
	return map[string]any{"team": team, "operation": "read", "object": object, "expires_in": 900}
}

// policyInput is the document signgate builds for a request of the bench
// subject from 127.0.0.1 (server/input.go, authz.Input; docs/policy.md).
// The sanity check compares it with the input in signgate's own record.
func policyInput(fx *fixture, req map[string]any, now string) map[string]any {
	return map[string]any{
		"subject": map[string]any{"id": benchSubject, "principal": "key:" + benchSubject, "teams": fx.teamsOf, "auth_method": "api_key", "claims": map[string]any{}},
		"action":  req,
		"source":  map[string]any{"ip": "127.0.0.1", "user_agent": benchUserAgent},
		"time":    now,
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// results is everything measure found.
type results struct {
	closed    map[string][]phase         // system -> one phase per round
	open      map[int]map[string][]phase // rate -> system -> one phase per round
	ratios    []float64                  // signgate/OPA closed-loop req/s, per round
	fixedRate int                        // the open-loop rate with a target: a share of OPA's capacity
	rsaSign   time.Duration              // one RSA-2048 signature in this process, median
	goBench   []goBenchResult            // the go test -bench ratios
	sgLoad    memInfo                    // signgate after the single-URL load
	opaLoad   memInfo
	batches   []batchResult
	sgBatch   memInfo // signgate after the batches too
	startRSS  int64
	audit     auditResult
	logBytes  int64 // signgate's stderr: one request log line per request
	logLines  int64
}

// measure runs the rounds, then the batches. Within a round the two
// systems alternate, and the first of each pair alternates between rounds,
// so that a drift in the machine's load hits both alike. The closed-loop
// rounds come first: the fixed rate of the open-loop rounds is a share
// (-fixed-share, 60%) of the OPA capacity they measured.
func (b *bench) measure(ctx context.Context) (*results, error) {
	o := b.o
	res := &results{closed: map[string][]phase{}, open: map[int]map[string][]phase{}, startRSS: readMem(b.sg.PID()).rss}
	pairOf := func(round int) []*target {
		if round%2 == 1 {
			return []*target{b.decide, b.sign}
		}
		return []*target{b.sign, b.decide}
	}
	for round := range o.rounds {
		fmt.Fprintf(b.w, "round %d/%d closed loop\n", round+1, o.rounds)
		rps := map[string]float64{}
		for _, t := range pairOf(round) {
			p := closedLoop(ctx, t, o.conns, o.warmup, o.duration, b.m)
			b.printPhase(p)
			res.closed[t.system] = append(res.closed[t.system], p)
			rps[t.system] = p.rps()
			if err := b.check(ctx, p); err != nil {
				return nil, err
			}
		}
		if rps["opa"] > 0 {
			res.ratios = append(res.ratios, rps["signgate"]/rps["opa"])
			fmt.Fprintf(b.w, "  %-16s signgate/opa %.2fx\n", "ratio", rps["signgate"]/rps["opa"])
		}
	}
	var opaRPS []float64
	for _, p := range res.closed["opa"] {
		opaRPS = append(opaRPS, p.rps())
	}
	res.fixedRate = max(1, int(o.fixedShare*median(opaRPS)+0.5))
	rates := append([]int{res.fixedRate}, o.rates...)
	fmt.Fprintf(b.w, "fixed     %d req/s = %.0f%% of OPA's closed-loop %.0f req/s\n", res.fixedRate, 100*o.fixedShare, median(opaRPS))
	for round := range o.rounds {
		fmt.Fprintf(b.w, "round %d/%d open loop\n", round+1, o.rounds)
		for _, rate := range rates {
			if res.open[rate] == nil {
				res.open[rate] = map[string][]phase{}
			}
			for _, t := range pairOf(round) {
				p := openLoop(ctx, t, rate, o.olWorkers, o.warmup/2, o.duration, b.m)
				b.printPhase(p)
				res.open[rate][t.system] = append(res.open[rate][t.system], p)
				if err := b.check(ctx, p); err != nil {
					return nil, err
				}
			}
		}
	}
	res.sgLoad, res.opaLoad = readMem(b.sg.PID()), readMem(b.op.PID())
	fmt.Fprintf(b.w, "memory    after single-URL load: signgate VmHWM %s (VmRSS %s), opa VmHWM %s\n",
		mib(res.sgLoad.hwm), mib(res.sgLoad.rss), mib(res.opaLoad.hwm))

	res.rsaSign = rsaSignTime()
	fmt.Fprintf(b.w, "rsa       one RSA-2048 PKCS#1 v1.5 SHA-256 signature in this process: %.0f µs (median)\n", us(res.rsaSign))
	for _, kind := range []struct{ name, team string }{{"s3", benchS3Team}, {"gcs", benchGCSTeam}, {"azure", benchAzureTeam}} {
		br := b.batch(ctx, kind.name, kind.team)
		b.printBatch(br)
		res.batches = append(res.batches, br)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	res.sgBatch = readMem(b.sg.PID())
	return res, nil
}

// check stops the run when the context ended or a phase failed outright.
func (b *bench) check(ctx context.Context, p phase) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("stopped: %w", context.Cause(ctx))
	}
	for _, sv := range []*proc{b.sg, b.op} {
		select {
		case <-sv.done:
			return fmt.Errorf("%s exited during the run (%v); stderr:\n%s", sv.name, sv.err, sv.stderr.Tail())
		default:
		}
	}
	if p.ok == 0 {
		return fmt.Errorf("%s %s: no successful request (%s)", p.kind, p.system, p.errText)
	}
	return nil
}

func (b *bench) printPhase(p phase) {
	name := "closed " + fmt.Sprint(b.o.conns) + " conns"
	rate := fmt.Sprintf("%6.0f req/s", p.rps())
	if p.kind == "open" {
		name = fmt.Sprintf("open %d/s", p.rate)
		rate = fmt.Sprintf("%6.0f done/s", p.rps())
	}
	errs := ""
	if p.errs > 0 {
		errs = fmt.Sprintf("  ERRORS %d (%s)", p.errs, p.errText)
	}
	fmt.Fprintf(b.w, "  %-16s %-8s %s  cpu %4.0f µs/req  p50 %6.2f ms  p99 %6.2f ms  p99.9 %6.2f ms  client %3.0f µs/req  others %3.0f%%%s\n",
		name, p.system, rate, us(p.serverCPUPerReq()),
		ms(percentile(p.lat, 50)), ms(percentile(p.lat, 99)), ms(percentile(p.lat, 99.9)),
		us(perReq(p.cpu.self, p.done)), othersPct(p.cpu, p.window), errs)
}

func perReq(d time.Duration, n int) time.Duration {
	if n == 0 {
		return 0
	}
	return d / time.Duration(n)
}

// othersPct is the share of the whole machine that other processes used.
func othersPct(u usage, window time.Duration) float64 {
	if window <= 0 {
		return 0
	}
	return 100 * float64(u.others()) / (float64(window) * float64(nproc()))
}
