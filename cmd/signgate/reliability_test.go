package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSIGTERMUnderLoadKeepsEveryRecord: workers sign without pause while
// serve is told to stop (what SIGTERM does); every decision a client got
// an answer for has its record, in both audit modes.
func TestSIGTERMUnderLoadKeepsEveryRecord(t *testing.T) {
	for _, mode := range []string{"best_effort", "strict"} {
		t.Run(mode, func(t *testing.T) {
			auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
			s, c, _ := limitsServe(t, "", fmt.Sprintf("{mode: %s, sink: file, path: %q}", mode, auditFile))
			const workers, maxPerWorker = 8, 400
			var answered decisionSet
			var sent, failed atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					cl := &client{t: t, base: c.base, http: &http.Client{Timeout: 5 * time.Second}}
					for range maxPerWorker {
						select {
						case <-stop:
							return
						default:
						}
						sent.Add(1)
						status, id, err := cl.try("limits-test-key")
						switch {
						case err != nil && id == "":
							failed.Add(1) // no answer: the listener had closed
						case status == http.StatusOK:
							answered.add(t, id)
						}
					}
				})
			}
			time.Sleep(300 * time.Millisecond) // under load
			s.shutdown(t)
			close(stop)
			wg.Wait()
			recs := map[string]bool{}
			for _, id := range auditIDs(t, auditFile) {
				recs[id] = true
			}
			missing := 0
			answered.mu.Lock()
			for id := range answered.ids {
				if !recs[id] {
					missing++
				}
			}
			n := len(answered.ids)
			answered.mu.Unlock()
			t.Logf("%s: %d requests sent, %d answered 200 before and during the shutdown, %d not answered (sent as the listener closed or after), %d records; answered without a record: %d",
				mode, sent.Load(), n, failed.Load(), len(recs), missing)
			if n == 0 {
				t.Fatal("no request was answered: the load never ran")
			}
			if missing != 0 {
				t.Errorf("%d answered decisions have no record", missing)
			}
		})
	}
}

// TestIdleConnectionsMemory holds N idle keep-alive connections on serve
// and reports what they cost in resident memory. Client and server share
// this process, so the figure covers both ends; N is bounded by the
// file-descriptor limit (two per connection here).
func TestIdleConnectionsMemory(t *testing.T) {
	n := 2000
	var lim struct{ cur uint64 }
	if b, err := os.ReadFile("/proc/self/limits"); err == nil {
		for line := range strings.Lines(string(b)) {
			if f := strings.Fields(line); strings.HasPrefix(line, "Max open files") && len(f) >= 5 {
				lim.cur, _ = strconv.ParseUint(f[3], 10, 64)
			}
		}
	}
	if lim.cur > 0 && uint64(2*n+256) > lim.cur {
		n = int(lim.cur-256) / 2
	}
	s, _, admin := limitsServe(t, fmt.Sprintf("  max_connections: %d\n  max_connections_per_ip: %d\n  idle_timeout: 2m\n", n+10, n+10), "{sink: none}")
	runtime.GC()
	before, goBefore := rssKiB(t), runtime.NumGoroutine()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for range n {
		if time.Now().After(deadline) {
			break
		}
		conn, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatalf("after %d connections: %v", len(conns), err)
		}
		conns = append(conns, conn)
		fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("connection %d: %v", len(conns), err)
		}
		resp.Body.Close() // the connection stays open, idle
	}
	waitFor(t, "the idle connections to be counted", func() bool {
		return strings.Contains(scrape(t, admin), fmt.Sprintf("signgate_connections_open %d", len(conns)))
	})
	runtime.GC()
	after, goAfter := rssKiB(t), runtime.NumGoroutine()
	delta := after - before
	t.Logf("%d idle keep-alive connections (fd limit %d): RSS %d KiB -> %d KiB, +%d KiB (%.1f KiB per connection, both ends); goroutines %d -> %d",
		len(conns), lim.cur, before, after, delta, float64(delta)/float64(len(conns)), goBefore, goAfter)
	if len(conns) < n {
		t.Errorf("opened %d of %d connections within 30s", len(conns), n)
	}
	if status, _, err := (&client{t: t, base: "http://" + s.addr, http: &http.Client{Timeout: 5 * time.Second}}).try("limits-test-key"); err != nil || status != http.StatusOK {
		t.Errorf("a valid request beside %d idle connections: status %d, err %v", len(conns), status, err)
	}
}

// rssKiB is this process's resident set size.
func rssKiB(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status:", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}
