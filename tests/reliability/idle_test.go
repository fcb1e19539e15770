// Package reliability runs the signgate binary under hostile load on
// 127.0.0.1 and reports, in the test output, what it costs.
package reliability

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/signgate/signgate/signer/gcs"
	"github.com/signgate/signgate/tests/storage"
)

// idleConns is how many idle keep-alive connections the test holds: the
// figure the operations guide quotes, unless the open-file limit is lower.
const idleConns = 10_000

var listening = regexp.MustCompile(`"msg":"signgate listening".*"addr":"(127\.0\.0\.1:\d+)"`)

// TestIdleConnectionsResidentMemory starts signgate as its own process,
// opens N keep-alive connections that each make one request and then
// idle, and reports the process's resident memory before and after.
func TestIdleConnectionsResidentMemory(t *testing.T) {
	n := idleConns
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur < uint64(n+512) {
		n = int(rl.Cur) - 512 // this process holds the client ends
		t.Logf("open-file limit %d: holding %d connections instead of %d", rl.Cur, n, idleConns)
	}
	dir := t.TempDir()
	bin, err := storage.BuildSigngate(dir)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := gcs.GenerateServiceAccountJSON("reliability@signgate-test.iam.gserviceaccount.com")
	if err != nil {
		t.Fatal(err)
	}
	saFile := filepath.Join(dir, "sa.json")
	if err := os.WriteFile(saFile, sa, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "signgate.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
listen: 127.0.0.1:0
server:
  max_connections: %d
  max_connections_per_ip: -1
  idle_timeout: 5m
auth:
  api_keys: [{sha256: "%s", subject: alice, teams: [vision]}]
connectors:
  vision-s3: {provider: s3, bucket: acme-vision, region: us-east-1, endpoint: "http://127.0.0.1:9",
              credentials: {access_key_id_env: RELIABILITY_AK, secret_access_key_env: RELIABILITY_SK}}
  research-s3: {provider: s3, bucket: acme-research, region: us-east-1, endpoint: "http://127.0.0.1:9",
                credentials: {access_key_id_env: RELIABILITY_AK, secret_access_key_env: RELIABILITY_SK}}
  contractors-s3: {provider: s3, bucket: acme-contractors, region: us-east-1, endpoint: "http://127.0.0.1:9",
                   credentials: {access_key_id_env: RELIABILITY_AK, secret_access_key_env: RELIABILITY_SK}}
  nlp-gcs: {provider: gcs, bucket: acme-nlp, endpoint: "http://127.0.0.1:9", credentials: {service_account_file: %q}}
  web-azure: {provider: azure, container: acme-web, endpoint: "http://127.0.0.1:9/devstoreaccount1",
              credentials: {account_name: devstoreaccount1, account_key_env: RELIABILITY_AZ}}
audit: {sink: none}
`, n+64, strings.Repeat("0", 64), saFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", cfg)
	cmd.Env = append(os.Environ(), "RELIABILITY_AK=AKIDRELIABILITY", "RELIABILITY_SK=reliability-secret",
		"RELIABILITY_AZ=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==") // Azurite's public key
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	defer func() { // only the process this test started, by its pid
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addrc <- m[1]:
				default:
				}
			}
		}
	}()
	var addr string
	select {
	case addr = <-addrc:
	case <-time.After(30 * time.Second):
		t.Fatal("signgate did not log its address within 30s")
	}

	healthz := func(conn net.Conn, r *bufio.Reader) error {
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	// A warm-up connection, so that "before" counts a serving process.
	warm, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer warm.Close()
	warmR := bufio.NewReader(warm)
	if err := healthz(warm, warmR); err != nil {
		t.Fatal(err)
	}
	before := rssKiB(t, pid)

	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	start, deadline := time.Now(), time.Now().Add(60*time.Second)
	for len(conns) < n && time.Now().Before(deadline) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", len(conns)+1, err)
		}
		conns = append(conns, conn)
		if err := healthz(conn, bufio.NewReaderSize(conn, 512)); err != nil {
			t.Fatalf("connection %d: %v", len(conns), err)
		}
	}
	opened := time.Since(start)
	time.Sleep(500 * time.Millisecond) // let the server settle its buffers
	after := rssKiB(t, pid)

	// A request on the warm connection beside them all.
	valid := time.Now()
	if err := healthz(warm, warmR); err != nil {
		t.Errorf("a request beside %d idle connections: %v", len(conns), err)
	}
	took := time.Since(valid)
	t.Logf("%d idle keep-alive connections (opened in %s): signgate's RSS %d KiB -> %d KiB, +%.1f MiB, %.1f KiB per connection; a request beside them took %s",
		len(conns), opened.Round(time.Millisecond), before, after, float64(after-before)/1024, float64(after-before)/float64(len(conns)), took.Round(time.Microsecond))
	if len(conns) < n {
		t.Errorf("opened %d of %d connections within 60s", len(conns), n)
	}
	if took > time.Second {
		t.Errorf("a request beside the idle connections took %s, want under 1s", took)
	}
}

// rssKiB is the resident set size of process pid.
func rssKiB(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skip("no /proc: ", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
