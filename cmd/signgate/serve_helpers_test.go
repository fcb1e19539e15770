package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Helpers for the tests that run `serve` in this process: start it, read
// its log, call it, and read its audit file.

// serveProc is `serve` run in this process as main runs it.
type serveProc struct {
	addr   string
	stdout syncBuffer // where the console audit sink writes
	logs   *logWatch
	cancel context.CancelFunc
	done   chan error
}

func startServe(t *testing.T, args ...string) *serveProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logR, logW := io.Pipe()
	s := &serveProc{logs: watchLog(logR), cancel: cancel, done: make(chan error, 1)}
	go func() {
		s.done <- run(ctx, append([]string{"serve"}, args...), nil, &s.stdout, logW)
		logW.Close()
	}()
	t.Cleanup(func() { s.shutdown(t) })
	line := s.logs.waitMsg(t, 0, "signgate listening")
	s.addr, _ = line["addr"].(string)
	return s
}

// shutdown does what SIGTERM does and waits for serve to return.
func (s *serveProc) shutdown(t *testing.T) {
	t.Helper()
	if s.done == nil {
		return
	}
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not return after the context ended")
	}
	s.done = nil
}

// sighup sends SIGHUP to this process, where serve handles it.
func sighup(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

// logWatch keeps serve's log lines, other than the per-request ones.
type logWatch struct {
	mu    sync.Mutex
	lines []map[string]any
}

func watchLog(r io.Reader) *logWatch {
	w := &logWatch{}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil || m["msg"] == "request" {
				continue
			}
			w.mu.Lock()
			w.lines = append(w.lines, m)
			w.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	return w
}

func (w *logWatch) mark() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.lines)
}

// find returns the first line logged after mark with message msg.
func (w *logWatch) find(mark int, msgs ...string) map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range w.lines[mark:] {
		for _, m := range msgs {
			if l["msg"] == m {
				return l
			}
		}
	}
	return nil
}

// findPrefix returns the first line whose message starts with prefix.
func (w *logWatch) findPrefix(prefix string) map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range w.lines {
		if m, _ := l["msg"].(string); strings.HasPrefix(m, prefix) {
			return l
		}
	}
	return nil
}

// waitMsg waits for a line logged after mark with one of msgs.
func (w *logWatch) waitMsg(t *testing.T, mark int, msgs ...string) map[string]any {
	t.Helper()
	var got map[string]any
	deadline := time.Now().Add(15 * time.Second)
	for got = w.find(mark, msgs...); got == nil; got = w.find(mark, msgs...) {
		if time.Now().After(deadline) {
			w.mu.Lock()
			defer w.mu.Unlock()
			t.Fatalf("no log line %q after line %d; the log: %v", msgs, mark, w.lines)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return got
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// client calls /v1/sign as one of the configured keys.
type client struct {
	t    *testing.T
	base string
	http *http.Client
}

func (c *client) try(key string) (status int, decisionID string, err error) {
	body := `{"team":"vision","operation":"read","object":"runs/42/model.pt"}`
	req, err := http.NewRequest("POST", c.base+"/v1/sign", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var out struct {
		DecisionID string `json:"decision_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return resp.StatusCode, "", err
	}
	return resp.StatusCode, out.DecisionID, nil
}

// sign asserts the status of one call and returns its decision id.
func (c *client) sign(key string, want int) string {
	c.t.Helper()
	status, id, err := c.try(key)
	if err != nil || status != want {
		c.t.Fatalf("sign as %s: status %d, err %v; want %d", key, status, err, want)
	}
	return id
}

type decisionSet struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (d *decisionSet) add(t *testing.T, id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ids == nil {
		d.ids = map[string]bool{}
	}
	if d.ids[id] {
		t.Errorf("decision id %s answered twice", id)
	}
	d.ids[id] = true
}

func (d *decisionSet) has(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ids[id]
}

// auditIDs returns the decision ids of the records in path, in order.
func auditIDs(t *testing.T, path string) []string {
	t.Helper()
	var ids []string
	for line := range strings.Lines(mustRead(t, path)) {
		var r struct {
			DecisionID string `json:"decision_id"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.DecisionID == "" {
			t.Fatalf("%s: a line that is no record: %q (%v)", path, line, err)
		}
		ids = append(ids, r.DecisionID)
	}
	return ids
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
