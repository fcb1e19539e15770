package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Targets of the performance issue; docs/performance.md explains each.
const (
	targetRatio    = 2.0
	targetCPU      = 120 * time.Microsecond
	targetRSS      = 64 << 20
	targetDecideUS = 30
)

var (
	targetP99   = map[int]time.Duration{2000: 3 * time.Millisecond, 4000: 15 * time.Millisecond}
	targetBatch = map[string]time.Duration{"s3": 60 * time.Millisecond, "azure": 40 * time.Millisecond}
)

// summary is the figures the report and the SUMMARY line share.
type summary struct {
	rps, cpu   map[string]float64         // system -> median over rounds (req/s, µs/req)
	closedLat  map[string][]time.Duration // system -> closed-loop latencies of every round, sorted
	ratio      float64                    // median of the per-round ratios
	open       map[int]map[string]pooled
	others     float64 // median share of the machine other processes used, %
	rss        int64
	targetsMet int
	targets    int
}

// pooled is one open-loop rate for one system over every round.
type pooled struct {
	lat      []time.Duration
	ok, errs int
	rps      float64
}

func summarize(o options, res *results) summary {
	s := summary{rps: map[string]float64{}, cpu: map[string]float64{}, closedLat: map[string][]time.Duration{},
		open: map[int]map[string]pooled{}, ratio: median(res.ratios), rss: res.sgLoad.hwm}
	var others []float64
	for sys, ps := range res.closed {
		var rps, cpu []float64
		for _, p := range ps {
			rps = append(rps, p.rps())
			cpu = append(cpu, us(p.serverCPUPerReq()))
			others = append(others, othersPct(p.cpu, p.window))
			s.closedLat[sys] = append(s.closedLat[sys], p.lat...)
		}
		sortDurations(s.closedLat[sys])
		s.rps[sys], s.cpu[sys] = median(rps), median(cpu)
	}
	for rate, bySys := range res.open {
		s.open[rate] = map[string]pooled{}
		for sys, ps := range bySys {
			var pl pooled
			var rps []float64
			for _, p := range ps {
				pl.lat = append(pl.lat, p.lat...)
				pl.ok += p.ok
				pl.errs += p.errs
				rps = append(rps, p.rps())
				others = append(others, othersPct(p.cpu, p.window))
			}
			sortDurations(pl.lat)
			pl.rps = median(rps)
			s.open[rate][sys] = pl
		}
	}
	s.others = median(others)
	return s
}

func report(w io.Writer, o options, res *results) {
	s := summarize(o, res)
	fmt.Fprintf(w, "\nresults   medians of %d round(s); open-loop percentiles pooled over the rounds\n", o.rounds)
	fmt.Fprintf(w, "  %-34s %22s %22s %10s\n", "", "signgate", "opa", "ratio")
	fmt.Fprintf(w, "  %-34s %22.0f %22.0f %9.2fx\n", fmt.Sprintf("closed loop, %d conns: req/s", o.conns), s.rps["signgate"], s.rps["opa"], s.ratio)
	fmt.Fprintf(w, "  %-34s %22.0f %22.0f %9.2fx\n", "server CPU µs/request", s.cpu["signgate"], s.cpu["opa"], ratioOf(s.cpu["signgate"], s.cpu["opa"]))
	lat := func(d []time.Duration) string {
		return fmt.Sprintf("%.2f/%.2f/%.2f", ms(percentile(d, 50)), ms(percentile(d, 99)), ms(percentile(d, 99.9)))
	}
	fmt.Fprintf(w, "  %-34s %22s %22s\n", "closed loop: p50/p99/p99.9 ms", lat(s.closedLat["signgate"]), lat(s.closedLat["opa"]))
	for _, rate := range o.rates {
		cell := func(sys string) string {
			p := s.open[rate][sys]
			c := lat(p.lat)
			if p.errs > 0 {
				c += fmt.Sprintf(" (%d err)", p.errs)
			}
			return c
		}
		fmt.Fprintf(w, "  %-34s %22s %22s\n", fmt.Sprintf("fixed %d req/s: p50/p99/p99.9 ms", rate), cell("signgate"), cell("opa"))
	}
	for _, br := range res.batches {
		fmt.Fprintf(w, "  %-34s %22s %22s\n", fmt.Sprintf("batch of 1,000 %s items: median", br.kind), br.status(), "-")
	}
	fmt.Fprintf(w, "  %-34s %22s %22s\n", "peak RSS (VmHWM), single-URL load", mib(res.sgLoad.hwm), mib(res.opaLoad.hwm))
	fmt.Fprintf(w, "  %-34s %22s %22s\n", "peak RSS after the batches", mib(res.sgBatch.hwm), "-")
	fmt.Fprintf(w, "  %-34s %22s\n", "RSS when ready (1,000 connectors)", mib(res.startRSS))
	if a := res.audit; o.auditSink == "console" {
		fmt.Fprintf(w, "  %-34s %d records for %d decisions, %.0f bytes/record", "audit (console sink)", a.records, a.decisions, float64(a.bytes)/float64(max(a.records, 1)))
		if a.records < a.decisions {
			fmt.Fprintf(w, "  MISSING %d (dropped by a full best_effort buffer?)", a.decisions-a.records)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintf(w, "  %-34s off (-audit-sink none): a diagnostic run, not comparable with the targets\n", "audit")
	}
	fmt.Fprintf(w, "  %-34s %d lines, %.0f bytes/line\n", "request log (stderr)", res.logLines, float64(res.logBytes)/float64(max(res.logLines, 1)))

	fmt.Fprintln(w, "targets")
	check := func(name, got string, ok bool) {
		verdict := "MISS"
		if ok {
			verdict = "ok"
			s.targetsMet++
		}
		s.targets++
		fmt.Fprintf(w, "  %-52s %-14s %s\n", name, got, verdict)
	}
	check(fmt.Sprintf("sign S3 req/s >= %.1fx OPA decide-only", targetRatio), fmt.Sprintf("%.2fx", s.ratio), s.ratio >= targetRatio)
	check(fmt.Sprintf("server CPU <= %d µs/request", targetCPU.Microseconds()), fmt.Sprintf("%.0f µs", s.cpu["signgate"]), s.cpu["signgate"] <= us(targetCPU))
	for _, rate := range o.rates {
		if t, ok := targetP99[rate]; ok {
			p := s.open[rate]["signgate"]
			p99 := percentile(p.lat, 99)
			check(fmt.Sprintf("fixed %d req/s p99 <= %s", rate, t), fmt.Sprintf("%.2f ms", ms(p99)), p99 <= t && p.errs == 0)
		}
	}
	for _, br := range res.batches {
		t := targetBatch[br.kind]
		check(fmt.Sprintf("batch of 1,000 %s items <= %s median", br.kind, t), br.status(), len(br.runs) > 0 && br.median() <= t)
	}
	check(fmt.Sprintf("peak RSS <= %s", mib(targetRSS)), mib(s.rss), s.rss > 0 && s.rss <= targetRSS)
	fmt.Fprintf(w, "  %-52s %-14s %s\n", fmt.Sprintf("decision p50 <= %d µs", targetDecideUS), "not here", "go test -run '^$' -bench Decide ./authz/")
	if s.others >= 10 {
		fmt.Fprintf(w, "NOTE      other processes used %.0f%% of the machine during the phases (median): these figures are noisy\n", s.others)
	}
	fmt.Fprintln(w, summaryLine(o, res, s))
}

// summaryLine is the one line to paste into an issue or a PR.
func summaryLine(o options, res *results, s summary) string {
	f := []string{
		fmt.Sprintf("signgate_rps=%.0f", s.rps["signgate"]),
		fmt.Sprintf("opa_rps=%.0f", s.rps["opa"]),
		fmt.Sprintf("ratio=%.2fx", s.ratio),
		fmt.Sprintf("cpu_us=%.0f/%.0f", s.cpu["signgate"], s.cpu["opa"]),
	}
	for _, rate := range o.rates {
		name := fmt.Sprint(rate)
		if rate%1000 == 0 {
			name = fmt.Sprintf("%dk", rate/1000)
		}
		f = append(f, fmt.Sprintf("p99_%s=%.2fms", name, ms(percentile(s.open[rate]["signgate"].lat, 99))))
	}
	for _, br := range res.batches {
		name := map[string]string{"s3": "batch_s3", "azure": "batch_az"}[br.kind]
		v := "n/a"
		if len(br.runs) > 0 {
			v = fmt.Sprintf("%.1fms", ms(br.median()))
		}
		f = append(f, name+"="+v)
	}
	f = append(f, fmt.Sprintf("rss=%.1fMiB", float64(s.rss)/(1<<20)),
		fmt.Sprintf("targets=%d/%d", s.targetsMet, s.targets),
		fmt.Sprintf("others=%.0f%%", s.others),
		fmt.Sprintf("nproc=%d", nproc()))
	if o.auditSink != "console" {
		f = append(f, "audit="+o.auditSink)
	}
	return "SUMMARY " + strings.Join(f, " ")
}

func ratioOf(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
