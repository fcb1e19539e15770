package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Targets of the performance issue, every one a ratio of two figures
// measured in the same run; docs/performance.md explains each.
const (
	targetRatio       = 2.0  // sign req/s ÷ OPA decide-only req/s, at least
	targetCPURatio    = 0.5  // server CPU per request ÷ OPA's, at most
	targetP99Ratio    = 0.5  // p99 at the fixed rate ÷ OPA's, at most
	targetBatchS3     = 0.2  // S3 batch wall per item ÷ sign CPU per request, at most
	targetBatchGCS    = 1.2  // GCS batch wall ÷ (1,000 RSA signatures ÷ cores), at most
	targetRSSRatio    = 1.0  // peak RSS ÷ OPA's, at most
	targetPolicyRatio = 3.0  // default policy, 100 teams ÷ a one-line policy, at most
	targetRecordRatio = 0.25 // one record ÷ one decision, at most
)

// ratios are the target figures of one run; zero when not measured.
type ratios struct {
	rps, cpu, p99, batchS3, batchGCS, rss, policy, record float64
}

func (s summary) ratios(res *results) ratios {
	r := ratios{rps: s.ratio, cpu: ratioOf(s.cpu["signgate"], s.cpu["opa"]), rss: ratioOf(float64(res.sgLoad.hwm), float64(res.opaLoad.hwm))}
	if f, ok := s.open[res.fixedRate]; ok && f["signgate"].errs == 0 {
		r.p99 = ratioOf(ms(percentile(f["signgate"].lat, 99)), ms(percentile(f["opa"].lat, 99)))
	}
	for _, br := range res.batches {
		if len(br.runs) == 0 {
			continue
		}
		switch br.kind {
		case "s3":
			r.batchS3 = ratioOf(us(br.median())/batchItems, s.cpu["signgate"])
		case "gcs":
			r.batchGCS = ratioOf(float64(br.median()), batchItems*float64(res.rsaSign)/float64(nproc()))
		}
	}
	for _, gb := range res.goBench {
		if gb.err != "" {
			continue
		}
		switch gb.name {
		case "BenchmarkDecidePolicyRatio":
			r.policy = gb.ratio
		case "BenchmarkRecordDecisionRatio":
			r.record = gb.ratio
		}
	}
	return r
}

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
	for _, rate := range append([]int{res.fixedRate}, o.rates...) {
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

	fmt.Fprintf(w, "  %-34s %22s\n", "one RSA-2048 signature, this process", fmt.Sprintf("%.0f µs", us(res.rsaSign)))

	r := s.ratios(res)
	fmt.Fprintln(w, "targets   (ratios measured in this run)")
	check := func(name string, got float64, ok bool, why string) {
		verdict, shown := "MISS", fmt.Sprintf("%.2fx", got)
		switch {
		case got == 0:
			shown = "n/a"
			if why != "" {
				shown += " (" + why + ")"
			}
		case ok:
			verdict = "ok"
			s.targetsMet++
		}
		s.targets++
		fmt.Fprintf(w, "  %-64s %-10s %s\n", name, shown, verdict)
	}
	check(fmt.Sprintf("sign S3 req/s ÷ OPA decide-only req/s, %d conns >= %.1f", o.conns, targetRatio), r.rps, r.rps >= targetRatio, "")
	check(fmt.Sprintf("server CPU per request ÷ OPA's <= %.2g", targetCPURatio), r.cpu, r.cpu <= targetCPURatio, "")
	check(fmt.Sprintf("p99 at %d req/s (%.0f%% of OPA's capacity) ÷ OPA's <= %.2g", res.fixedRate, 100*o.fixedShare, targetP99Ratio), r.p99, r.p99 <= targetP99Ratio, "errors")
	check(fmt.Sprintf("S3 batch wall per item ÷ sign CPU per request <= %.2g", targetBatchS3), r.batchS3, r.batchS3 <= targetBatchS3, "no batch")
	check(fmt.Sprintf("GCS batch wall ÷ (1,000 RSA signatures ÷ %d cores) <= %.2g", nproc(), targetBatchGCS), r.batchGCS, r.batchGCS <= targetBatchGCS, "no batch")
	check(fmt.Sprintf("peak RSS ÷ OPA's peak RSS <= %.2g", targetRSSRatio), r.rss, r.rss <= targetRSSRatio, "")
	check(fmt.Sprintf("decision, default policy 100 teams ÷ one-line policy <= %.2g", targetPolicyRatio), r.policy, r.policy <= targetPolicyRatio, "-go-bench=false or failed")
	check(fmt.Sprintf("one decision record ÷ one decision <= %.2g", targetRecordRatio), r.record, r.record <= targetRecordRatio, "-go-bench=false or failed")
	if s.others >= 10 {
		fmt.Fprintf(w, "NOTE      other processes used %.0f%% of the machine during the phases (median): these figures are noisy\n", s.others)
	}
	fmt.Fprintln(w, summaryLine(o, res, s, r))
	fmt.Fprintf(w, "ratio: %.2fx\n", s.ratio)
}

// summaryLine is the one line to paste into an issue or a PR.
func summaryLine(o options, res *results, s summary, r ratios) string {
	f := []string{
		fmt.Sprintf("signgate_rps=%.0f", s.rps["signgate"]),
		fmt.Sprintf("opa_rps=%.0f", s.rps["opa"]),
		fmt.Sprintf("ratio=%.2fx", s.ratio),
		fmt.Sprintf("cpu_us=%.0f/%.0f", s.cpu["signgate"], s.cpu["opa"]),
		fmt.Sprintf("cpu_ratio=%.2f", r.cpu),
		fmt.Sprintf("p99_%d=%.2f/%.2fms", res.fixedRate, ms(percentile(s.open[res.fixedRate]["signgate"].lat, 99)), ms(percentile(s.open[res.fixedRate]["opa"].lat, 99))),
		fmt.Sprintf("p99_ratio=%.2f", r.p99),
	}
	for _, br := range res.batches {
		v := "n/a"
		if len(br.runs) > 0 {
			v = fmt.Sprintf("%.1fms", ms(br.median()))
		}
		f = append(f, "batch_"+br.kind+"="+v)
	}
	f = append(f,
		fmt.Sprintf("batch_s3_ratio=%.2f", r.batchS3),
		fmt.Sprintf("rsa_us=%.0f", us(res.rsaSign)),
		fmt.Sprintf("batch_gcs_ratio=%.2f", r.batchGCS),
		fmt.Sprintf("rss=%.1f/%.1fMiB", float64(res.sgLoad.hwm)/(1<<20), float64(res.opaLoad.hwm)/(1<<20)),
		fmt.Sprintf("rss_ratio=%.2f", r.rss),
		fmt.Sprintf("policy_ratio=%.2f", r.policy),
		fmt.Sprintf("record_ratio=%.2f", r.record),
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
