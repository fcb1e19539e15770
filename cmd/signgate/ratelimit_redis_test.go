package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/signgate/signgate/tests/storage"
)

func startRedis(t *testing.T) *storage.Redis {
	t.Helper()
	r, err := storage.StartRedis(context.Background())
	if storage.IsNotInstalled(err) {
		storage.SkipOrFail(t, err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

func redisLimit(addr, onError string, burst int) string {
	return fmt.Sprintf("  rate_limit:\n    store: redis\n    rate: 1\n    burst: %d\n    on_store_error: %s\n    redis: {addr: %q, timeout: 200ms}\n", burst, onError, addr)
}

// TestReplicasShareOneRedisLimit: three replicas spend one budget per
// principal in one redis-server; when Redis is down, fail_closed answers
// 503 and fail_open serves, each with a metric and a log line.
func TestReplicasShareOneRedisLimit(t *testing.T) {
	r := startRedis(t)
	const burst = 12
	var replicas []*client
	var procs []*serveProc
	var admins []string
	for range 3 {
		s, c, admin := limitsServe(t, redisLimit(r.Addr, "fail_closed", burst), "{sink: none}")
		procs, replicas, admins = append(procs, s), append(replicas, c), append(admins, admin)
	}
	_, open, openAdmin := limitsServe(t, redisLimit(r.Addr, "fail_open", burst), "{sink: none}")

	// Round robin until one is refused. Apart, the replicas would allow
	// 3 bursts; sharing, one burst and what refilled meanwhile (1/s).
	start, allowed := time.Now(), 0
	for i := 0; i < 3*burst+3; i++ {
		status, _, err := replicas[i%3].try("limits-test-key")
		if err != nil {
			t.Fatal(err)
		}
		if status == http.StatusTooManyRequests {
			break
		}
		allowed++
	}
	elapsed := time.Since(start)
	t.Logf("3 replicas sharing a burst of %d at 1/s: %d allowed in %s before the first 429", burst, allowed, elapsed.Round(time.Millisecond))
	if allowed < burst || allowed > burst+int(elapsed.Seconds())+1 {
		t.Fatalf("%d requests allowed across the replicas in %s, want %d plus at most one a second", allowed, elapsed, burst)
	}
	for i, c := range replicas { // each sees the spent budget (a refilled unit may pass once)
		s1, _, _ := c.try("limits-test-key")
		s2, _, _ := c.try("limits-test-key")
		if s1 != http.StatusTooManyRequests && s2 != http.StatusTooManyRequests {
			t.Errorf("replica %d after the shared budget was spent: statuses %d, %d; want 429", i, s1, s2)
		}
	}

	r.Stop()
	mark := procs[0].logs.mark()
	if status, _, _ := replicas[0].try("limits-test-key"); status != http.StatusServiceUnavailable {
		t.Errorf("fail_closed with Redis down: status %d, want 503", status)
	}
	procs[0].logs.waitMsg(t, mark, "rate-limit store unavailable")
	if !strings.Contains(scrape(t, admins[0]), `signgate_rate_limit_store_errors_total{on_error="fail_closed"} 1`) {
		t.Error("fail_closed: the store error was not counted")
	}
	if status, _, _ := open.try("limits-test-key"); status != http.StatusOK {
		t.Errorf("fail_open with Redis down: status %d, want 200", status)
	}
	if !strings.Contains(scrape(t, openAdmin), `signgate_rate_limit_store_errors_total{on_error="fail_open"} 1`) {
		t.Error("fail_open: the store error was not counted")
	}

	// Redis back (empty: no persistence), on the same address.
	_, port, _ := net.SplitHostPort(r.Addr)
	p, _ := strconv.Atoi(port)
	r2, err := storage.StartRedisAt(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r2.Stop)
	mark = procs[0].logs.mark()
	if status, _, _ := replicas[0].try("limits-test-key"); status != http.StatusOK {
		t.Errorf("fail_closed with Redis back: status %d, want 200", status)
	}
	procs[0].logs.waitMsg(t, mark, "rate-limit store answers again")
}
