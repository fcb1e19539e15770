package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/signgate/signgate/server/config"
)

// limitsServe starts serve with one API key for team vision, metrics on
// an admin address, extra under server: and the audit section, and returns it with a client.
func limitsServe(t *testing.T, server, audit string) (*serveProc, *client, string) {
	t.Helper()
	dir := t.TempDir()
	const key = "limits-test-key"
	sum := sha256.Sum256([]byte(key))
	cfg := fmt.Sprintf(`
listen: 127.0.0.1:0
server:
%s
auth:
  api_keys: [{sha256: %q, subject: alice, teams: [vision]}]
connectors:
  vision-s3: {provider: s3, bucket: acme-vision, region: us-east-1, endpoint: "http://127.0.0.1:9",
              credentials: {access_key_id_env: LIMITS_TEST_AK, secret_access_key_env: LIMITS_TEST_SK}}
  research-s3: {provider: s3, bucket: acme-research, region: us-east-1, endpoint: "http://127.0.0.1:9",
              credentials: {access_key_id_env: LIMITS_TEST_AK, secret_access_key_env: LIMITS_TEST_SK}}
  contractors-s3: {provider: s3, bucket: acme-contractors, region: us-east-1, endpoint: "http://127.0.0.1:9",
              credentials: {access_key_id_env: LIMITS_TEST_AK, secret_access_key_env: LIMITS_TEST_SK}}
%s
audit: %s
metrics: {listen: "127.0.0.1:0"}
`, server, hex.EncodeToString(sum[:]), exampleGCSAndAzure(t), audit)
	path := filepath.Join(dir, "signgate.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LIMITS_TEST_AK", "AKIDLIMITSTEST")
	t.Setenv("LIMITS_TEST_SK", "limits-test-secret")
	s := startServe(t, "--config", path)
	admin, _ := s.logs.find(0, "metrics listening")["addr"].(string)
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return s, &client{t: t, base: "http://" + s.addr, http: &http.Client{Transport: tr, Timeout: 5 * time.Second}}, admin
}

// timedSign signs once and returns how long the answer took.
func timedSign(t *testing.T, c *client) time.Duration {
	t.Helper()
	start := time.Now()
	c.sign("limits-test-key", http.StatusOK)
	return time.Since(start)
}

// closedWithin reads from conn until the server closes it, and reports
// how long that took; wait bounds the wait.
func closedWithin(conn net.Conn, wait time.Duration) (time.Duration, bool) {
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(wait))
	_, err := io.Copy(io.Discard, conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return time.Since(start), false
	}
	return time.Since(start), true
}

func scrape(t *testing.T, admin string) string {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestSlowClientsAreCutOff: a client that trickles its headers, one that
// trickles its body and an idle keep-alive each lose their connection
// within their timeout, and a valid request is answered meanwhile.
func TestSlowClientsAreCutOff(t *testing.T) {
	_, c, _ := limitsServe(t, "  read_header_timeout: 300ms\n  body_timeout: 300ms\n  idle_timeout: 1s\n", "{sink: none}")
	dial := func() net.Conn {
		conn, err := net.Dial("tcp", strings.TrimPrefix(c.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	for _, tc := range []struct {
		name  string
		given func(conn net.Conn)
		limit time.Duration
	}{
		{"slow headers", func(conn net.Conn) {
			fmt.Fprint(conn, "POST /v1/sign HTTP/1.1\r\nHost: x\r\n")
			go func() { // one header line now and then, never the end
				for i := range 20 {
					time.Sleep(100 * time.Millisecond)
					if _, err := fmt.Fprintf(conn, "X-Slow-%d: 1\r\n", i); err != nil {
						return
					}
				}
			}()
		}, 300 * time.Millisecond},
		{"slow body", func(conn net.Conn) {
			fmt.Fprint(conn, "POST /v1/sign HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer limits-test-key\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
			go func() {
				for range 20 {
					time.Sleep(100 * time.Millisecond)
					if _, err := fmt.Fprint(conn, " "); err != nil {
						return
					}
				}
			}()
		}, 300 * time.Millisecond},
		{"idle keep-alive", func(conn net.Conn) {
			fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := dial()
			tc.given(conn)
			answered := timedSign(t, c)
			took, closed := closedWithin(conn, 5*time.Second)
			t.Logf("%s: connection closed after %s (timeout %s); a valid request meanwhile took %s", tc.name, took.Round(time.Millisecond), tc.limit, answered.Round(time.Millisecond))
			if !closed {
				t.Fatalf("the server still held the connection after 5s")
			}
			if answered > time.Second {
				t.Errorf("a valid request took %s, want under 1s", answered)
			}
		})
	}
}

// TestConnectionCaps: connections over the per-IP cap are closed on
// accept and counted; under it, a flood of idle connections leaves valid
// requests answered.
func TestConnectionCaps(t *testing.T) {
	const perIP, flood = 300, 400
	_, c, admin := limitsServe(t, fmt.Sprintf("  max_connections: 1000\n  max_connections_per_ip: %d\n  read_header_timeout: 5s\n", perIP), "{sink: none}")
	addr := strings.TrimPrefix(c.base, "http://")
	conns := make([]net.Conn, 0, flood)
	defer func() {
		for _, conn := range conns {
			conn.Close()
		}
	}()
	for range flood - 10 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\n") // headers never finished
		conns = append(conns, conn)
	}
	waitFor(t, "the refusals to be counted", func() bool {
		return strings.Contains(scrape(t, admin), fmt.Sprintf(`signgate_connections_refused_total{reason="max_connections_per_ip"} %d`, flood-10-perIP))
	})
	if !strings.Contains(scrape(t, admin), fmt.Sprintf("signgate_connections_open %d", perIP)) {
		t.Errorf("signgate_connections_open is not %d", perIP)
	}
	// The cap holds for the valid client too, on the same address: it is
	// refused until the flood lets go of some connections.
	if _, _, err := c.try("limits-test-key"); err == nil {
		t.Fatal("a connection over the per-IP cap was served")
	}
	for _, conn := range conns[:50] {
		conn.Close()
	}
	conns = conns[50:]
	waitFor(t, "the released slots", func() bool {
		return strings.Contains(scrape(t, admin), fmt.Sprintf("signgate_connections_open %d", perIP-50))
	})
	var worst time.Duration
	for range 10 {
		worst = max(worst, timedSign(t, c))
	}
	t.Logf("flood of %d idle connections (per-IP cap %d, %d refused): slowest of 10 valid requests %s", flood-10, perIP, flood-10-perIP, worst.Round(time.Millisecond))
	if worst > time.Second {
		t.Errorf("a valid request took %s under the flood, want under 1s", worst)
	}
}

// TestShutdownFlushHasItsOwnBudget: a client that holds a request open
// uses up the shutdown drain, and the records still get their own flush.
func TestShutdownFlushHasItsOwnBudget(t *testing.T) {
	auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
	s, c, _ := limitsServe(t, "  shutdown_timeout: 300ms\n  body_timeout: 1m\n",
		fmt.Sprintf("{mode: strict, sink: file, path: %q, flush_timeout: 5s}", auditFile))
	const n = 20
	ids := make([]string, n)
	for i := range ids {
		ids[i] = c.sign("limits-test-key", http.StatusOK)
	}
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "POST /v1/sign HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer limits-test-key\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	go func() { // a byte now and then: the request never ends by itself
		for range 50 {
			time.Sleep(100 * time.Millisecond)
			if _, err := fmt.Fprint(conn, " "); err != nil {
				return
			}
		}
	}()
	time.Sleep(100 * time.Millisecond) // the slow request is being read
	start := time.Now()
	s.shutdown(t) // fails the test if serve returns an error
	t.Logf("shutdown with a trickling client took %s (drain 300ms)", time.Since(start).Round(time.Millisecond))
	got := map[string]bool{}
	for _, id := range auditIDs(t, auditFile) {
		got[id] = true
	}
	for _, id := range ids {
		if !got[id] {
			t.Errorf("decision %s has no record", id)
		}
	}
}

// TestOversizedHeadersGet431: headers over server.max_header_bytes are
// refused before any route.
func TestOversizedHeadersGet431(t *testing.T) {
	_, c, _ := limitsServe(t, "  max_header_bytes: 4096\n", "{sink: none}")
	for _, tc := range []struct {
		name       string
		givenBytes int
		wantStatus int
	}{
		{"headers under the cap", 1000, http.StatusOK},
		{"headers over the cap and the 4 KiB that Go adds to it", 9000, http.StatusRequestHeaderFieldsTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", c.base+"/healthz", nil)
			req.Header.Set("X-Padding", strings.Repeat("a", tc.givenBytes))
			resp, err := c.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
		})
	}
}

// TestCapListener: connections over either cap are closed on accept and
// counted by cap; a closed connection gives its slot back.
func TestCapListener(t *testing.T) {
	for _, tc := range []struct {
		name        string
		givenMax    int
		givenPerIP  int
		wantRefused string
	}{
		{"the total cap", 2, -1, "max_connections"},
		{"the per-IP cap", 10, 2, "max_connections_per_ip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewRegistry()
			m := newConnMetrics(reg)
			ln := capConnections(inner, config.Transport{MaxConnections: tc.givenMax, MaxConnectionsPerIP: tc.givenPerIP}, m)
			defer ln.Close()
			accepted := make(chan net.Conn, 8)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					accepted <- c
				}
			}()
			dial := func() net.Conn {
				c, err := net.Dial("tcp", inner.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			}
			dial()
			dial()
			first, second := <-accepted, <-accepted
			refused := dial()
			if _, closed := closedWithin(refused, 5*time.Second); !closed {
				t.Fatal("the connection over the cap was not closed")
			}
			if got := testutil.ToFloat64(m.refused.WithLabelValues(tc.wantRefused)); got != 1 {
				t.Errorf("refused{reason=%q} = %v, want 1", tc.wantRefused, got)
			}
			if got := testutil.ToFloat64(m.open); got != 2 {
				t.Errorf("open = %v, want 2", got)
			}
			first.Close()
			dial()
			select {
			case third := <-accepted:
				third.Close()
			case <-time.After(5 * time.Second):
				t.Fatal("a slot given back was not used")
			}
			second.Close()
		})
	}
}
