package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

const batchItems = 1000

// batchResult is one kind of batch: the wall time of each measured
// POST /v1/sign/batch, from the first byte sent to the last byte read.
type batchResult struct {
	kind   string
	absent bool   // the endpoint answered 404
	err    string // why the batches stopped
	runs   []time.Duration
	signed int // items answered 200 in the last batch
}

func (r batchResult) median() time.Duration { return medianDuration(r.runs) }

// status is the batch's figure for the report.
func (r batchResult) status() string {
	switch {
	case r.absent:
		return "n/a: endpoint absent"
	case len(r.runs) == 0:
		return "n/a: " + r.err
	}
	return fmt.Sprintf("%.1fms", ms(r.median()))
}

// batch sends one warm-up and then batchRuns batches of 1,000 reads of the
// team's objects, one at a time.
func (b *bench) batch(ctx context.Context, kind, team string) batchResult {
	r := batchResult{kind: kind}
	items := make([]map[string]any, batchItems)
	for i := range items {
		items[i] = signRequest(team, fmt.Sprintf("batch/%d/part-%04d.bin", i/100, i))
	}
	body := map[string]any{"items": items}
	c := newClient(1)
	defer c.CloseIdleConnections()
	for run := range b.o.batchRuns + 1 {
		start := time.Now()
		status, raw, err := postJSON(ctx, c, b.sg.base+"/v1/sign/batch", b.sign.auth, body, nil)
		took := time.Since(start)
		switch {
		case err != nil:
			r.err = err.Error()
			return r
		case status == http.StatusNotFound:
			r.absent = true
			return r
		case status != http.StatusOK:
			r.err = fmt.Sprintf("status %d: %s", status, snippet(raw))
			return r
		}
		var got struct {
			Results []struct {
				Status  int             `json:"status"`
				Problem json.RawMessage `json:"problem"`
			} `json:"results"`
		}
		if err := json.Unmarshal(raw, &got); err != nil {
			r.err = "decode: " + err.Error()
			return r
		}
		r.signed = 0
		var problem json.RawMessage
		for _, it := range got.Results {
			switch it.Status {
			case http.StatusOK:
				r.signed++
				b.decisions.Add(1)
			case http.StatusForbidden:
				b.decisions.Add(1)
			}
			if it.Status != http.StatusOK && problem == nil {
				problem = it.Problem
			}
		}
		if len(got.Results) != batchItems || r.signed != batchItems {
			r.err = fmt.Sprintf("%d of %d results, %d signed; first problem %s", len(got.Results), batchItems, r.signed, snippet(problem))
			return r
		}
		if run > 0 {
			r.runs = append(r.runs, took)
		}
	}
	return r
}

func (b *bench) printBatch(r batchResult) {
	if len(r.runs) == 0 {
		fmt.Fprintf(b.w, "batch     %-5s 1,000 items: %s\n", r.kind, r.status())
		return
	}
	fmt.Fprintf(b.w, "batch     %-5s 1,000 items: median %.1f ms over %d runs (min %.1f, max %.1f)\n",
		r.kind, ms(r.median()), len(r.runs), ms(minDuration(r.runs)), ms(maxDuration(r.runs)))
	if r.err != "" {
		fmt.Fprintf(b.w, "WARNING   batch %s stopped after %d runs: %s\n", r.kind, len(r.runs), r.err)
	}
}

func minDuration(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds[1:] {
		m = min(m, d)
	}
	return m
}

func maxDuration(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds[1:] {
		m = max(m, d)
	}
	return m
}
