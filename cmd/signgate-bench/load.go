package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// target is one kind of request to one server: a pool of bodies sent in
// turn, so that no two consecutive requests are the same.
type target struct {
	system string // "signgate" or "opa"
	url    string
	auth   string // Authorization header, or empty
	bodies [][]byte

	decisions *atomic.Int64 // when set, counts the 200 and 403 answers
}

// do sends body i and reads the whole answer, as a client would.
func (t *target) do(ctx context.Context, c *http.Client, i int) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(t.bodies[i%len(t.bodies)]))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", benchUserAgent)
	if t.auth != "" {
		req.Header.Set("Authorization", t.auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if t.decisions != nil && (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusForbidden) {
		t.decisions.Add(1)
	}
	return resp.StatusCode, err
}

// newClient is a keep-alive client for at most conns connections to one
// loopback server: no proxy, no compression, HTTP/1.1 as both servers speak.
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
			ForceAttemptHTTP2:   false,
		},
	}
}

// phase is what one load phase measured, over its measured window only.
type phase struct {
	kind    string // "closed" or "open"
	system  string
	rate    int // open loop: the scheduled rate
	window  time.Duration
	ok      int             // 200 answers to the requests measured
	done    int             // of those, the ones completed inside the window
	errs    int             // other answers, transport errors, and sends missed at the deadline
	lat     []time.Duration // every answer's latency, sorted
	cpu     usage
	errText string // the first error, for the report
}

// rps is the rate of 200 answers completed inside the window. In an open
// loop it falls below the scheduled rate when the server does not keep up.
func (p *phase) rps() float64 { return float64(p.done) / p.window.Seconds() }

// serverCPUPerReq is the CPU the measured server used in the window per
// 200 answer it completed there.
func (p *phase) serverCPUPerReq() time.Duration { return perReq(p.cpu.of(p.system), p.done) }

// recorder collects one worker's results; workers never share one.
type recorder struct {
	lat      []time.Duration
	ok, done int
	errs     int
	errText  string
}

// add records one measured request; inWindow says it completed inside the
// measured window.
func (r *recorder) add(lat time.Duration, status int, err error, inWindow bool) {
	r.lat = append(r.lat, lat)
	switch {
	case err != nil:
		r.errs++
		if r.errText == "" {
			r.errText = err.Error()
		}
	case status != http.StatusOK:
		r.errs++
		if r.errText == "" {
			r.errText = fmt.Sprintf("status %d", status)
		}
	default:
		r.ok++
		if inWindow {
			r.done++
		}
	}
}

func merge(p *phase, recs []recorder) {
	for i := range recs {
		p.lat = append(p.lat, recs[i].lat...)
		p.ok += recs[i].ok
		p.done += recs[i].done
		p.errs += recs[i].errs
		if p.errText == "" {
			p.errText = recs[i].errText
		}
	}
	sortDurations(p.lat)
}

// closedLoop keeps conns requests in flight for warm+dur: each connection
// sends its next request when the last one is answered. Only answers that
// complete inside the measured window count, and the CPU meters are read
// at its two ends.
func closedLoop(ctx context.Context, t *target, conns int, warm, dur time.Duration, m *meter) phase {
	c := newClient(conns)
	defer c.CloseIdleConnections()
	start := time.Now()
	from, end := start.Add(warm), start.Add(warm+dur)
	rctx, cancel := context.WithDeadline(ctx, end.Add(10*time.Second))
	defer cancel()
	recs := make([]recorder, conns)
	var wg sync.WaitGroup
	for w := range conns {
		wg.Go(func() {
			r := &recs[w]
			for n := w; rctx.Err() == nil; n += conns {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				status, err := t.do(rctx, c, n)
				t1 := time.Now()
				if t1.Before(from) || !t1.Before(end) {
					continue
				}
				r.add(t1.Sub(t0), status, err, true)
			}
		})
	}
	sleepUntil(ctx, from)
	before := m.take()
	sleepUntil(ctx, end)
	after := m.take()
	wg.Wait()
	p := phase{kind: "closed", system: t.system, window: after.at.Sub(before.at), cpu: after.sub(before)}
	merge(&p, recs)
	return p
}

// openLoop sends rate requests per second for warm+dur on a fixed
// schedule, whatever the server's answers do: request i is due at
// start+i/rate, and its latency runs from that due time, not from when a
// sender got to it. A server that falls behind therefore pays for every
// request queued behind a slow one (no coordinated omission). Senders
// bound the requests in flight; a send still due at end+5s is not made and
// counts as an error with its waiting time as latency.
func openLoop(ctx context.Context, t *target, rate, workers int, warm, dur time.Duration, m *meter) phase {
	c := newClient(workers)
	defer c.CloseIdleConnections()
	start := time.Now().Add(20 * time.Millisecond)
	from, end := start.Add(warm), start.Add(warm+dur)
	due := func(i int) time.Time {
		return start.Add(time.Duration(float64(i) * float64(time.Second) / float64(rate)))
	}
	total := int(float64(rate) * (warm + dur).Seconds())
	warmN := int(float64(rate) * warm.Seconds())
	rctx, cancel := context.WithDeadline(ctx, end.Add(5*time.Second))
	defer cancel()
	recs := make([]recorder, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := &recs[w]
			for {
				i := int(next.Add(1) - 1)
				if i >= total {
					return
				}
				at := due(i)
				sleepUntil(rctx, at)
				if rctx.Err() != nil {
					if i >= warmN {
						r.add(time.Since(at), 0, fmt.Errorf("not sent: %w", context.Cause(rctx)), false)
					}
					continue
				}
				status, err := t.do(rctx, c, i)
				if i >= warmN {
					now := time.Now()
					r.add(now.Sub(at), status, err, now.Before(end))
				}
			}
		})
	}
	sleepUntil(ctx, from)
	before := m.take()
	sleepUntil(ctx, end)
	after := m.take()
	wg.Wait()
	p := phase{kind: "open", system: t.system, rate: rate, window: after.at.Sub(before.at), cpu: after.sub(before)}
	merge(&p, recs)
	return p
}

// sleepUntil sleeps until t or until ctx ends.
func sleepUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}

// meter reads the CPU time of both servers, of this harness and of the
// whole machine.
type meter struct{ sg, opa int }

type snapshot struct {
	at                     time.Time
	sg, opa, self, machine time.Duration
}

func (m *meter) take() snapshot {
	return snapshot{at: time.Now(), sg: cpuTime(m.sg), opa: cpuTime(m.opa), self: cpuTime(selfPID), machine: machineCPU()}
}

// usage is the CPU time used between two snapshots.
type usage struct{ sg, opa, self, machine time.Duration }

func (a snapshot) sub(b snapshot) usage {
	return usage{sg: a.sg - b.sg, opa: a.opa - b.opa, self: a.self - b.self, machine: a.machine - b.machine}
}

func (u usage) of(system string) time.Duration {
	if system == "opa" {
		return u.opa
	}
	return u.sg
}

// others is the CPU used by every other process on the machine: other
// people's builds on a shared box.
func (u usage) others() time.Duration { return max(0, u.machine-u.sg-u.opa-u.self) }
