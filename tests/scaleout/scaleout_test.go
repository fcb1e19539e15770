// Package scaleout runs several signgate processes as docs/operations.md
// describes them behind a load balancer: one bundle service, one
// decision-log service, nothing shared between the replicas.
package scaleout

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/signgate/signgate/bundles/bundletest"
	"github.com/signgate/signgate/tests/decisionlog"
	"github.com/signgate/signgate/tests/storage"
)

const replicas = 3

// receiver is an OPA decision-log service: it takes gzipped JSON arrays of
// events on POST /logs and keeps every event it got.
type receiver struct {
	mu     sync.Mutex
	events []event
	posts  int
}

type event struct {
	DecisionID string            `json:"decision_id"`
	Labels     map[string]string `json:"labels"`
	Bundles    map[string]struct {
		Revision string `json:"revision"`
	} `json:"bundles"`
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	batch, ok := decisionlog.ReadBatch[event](w, r)
	if !ok {
		return
	}
	rc.mu.Lock()
	rc.events = append(rc.events, batch...)
	rc.posts++
	rc.mu.Unlock()
}

type replica struct {
	id   string
	cmd  *exec.Cmd
	addr string
	done chan error
}

// TestThreeReplicas starts three signgate processes on one bundle service
// and one decision-log service, changes the policy, and checks that the
// change reaches all three and that every decision any of them answered
// arrives at the service exactly once, labelled with its replica.
func TestThreeReplicas(t *testing.T) {
	dir := t.TempDir()
	bin, err := storage.BuildSigngate(dir)
	if err != nil {
		t.Fatal(err)
	}

	bundleSrv := bundletest.NewServer(t)
	bundleSrv.Serve(bundletest.Tarball(t, bundletest.Policy(60), "r1", nil))
	rc := &receiver{}
	logs := httptest.NewServer(rc)
	defer logs.Close()

	const key = "scale-out-test-key"
	sum := sha256.Sum256([]byte(key))
	var reps []*replica
	for i := range replicas {
		id := fmt.Sprintf("replica-%d", i)
		cfg := fmt.Sprintf(`
listen: 127.0.0.1:0
auth:
  api_keys: [{sha256: %q, subject: alice, teams: [vision]}]
connectors:
  c1: {provider: s3, bucket: acme, region: us-east-1, endpoint: "http://127.0.0.1:9",
       credentials: {access_key_id_env: SCALEOUT_AK, secret_access_key_env: SCALEOUT_SK}}
policy:
  source: service
  require_bundle: true
  opa_config:
    services: {hub: {url: %q}}
    bundles: {signgate: {service: hub, resource: %q, polling: {min_delay_seconds: 1, max_delay_seconds: 1}}}
audit:
  sink: service
  instance_id: %s
  service: {url: %q, min_delay: 1s, max_delay: 1s}
`, hex.EncodeToString(sum[:]), bundleSrv.URL, bundleSrv.Path, id, logs.URL)
		path := filepath.Join(dir, id+".yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		reps = append(reps, start(t, bin, id, path))
	}
	defer func() {
		for _, r := range reps {
			if r.cmd.ProcessState == nil {
				_ = r.cmd.Process.Kill()
			}
		}
	}()

	answered := map[string]string{} // decision id -> replica id
	revisionOf := map[string]string{}
	decide := func(round string, n int) {
		for i := range n {
			r := reps[i%replicas]
			id := sign(t, r, key, fmt.Sprintf("%s/%d", round, i))
			if prev, dup := answered[id]; dup {
				t.Fatalf("decision id %s answered twice (%s and %s)", id, prev, r.id)
			}
			answered[id], revisionOf[id] = r.id, round
		}
	}

	waitRevision(t, reps, key, "r1")
	decide("r1", 30)
	bundleSrv.Serve(bundletest.Tarball(t, bundletest.Policy(120), "r2", nil))
	waitRevision(t, reps, key, "r2")
	decide("r2", 30)

	// SIGTERM: each replica drains and uploads what it still holds.
	for _, r := range reps {
		if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range reps {
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("%s exited with %v after SIGTERM", r.id, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s did not exit within 30s of SIGTERM", r.id)
		}
	}

	rc.mu.Lock()
	defer rc.mu.Unlock()
	seen := map[string]int{}
	perReplica := map[string]int{}
	for _, ev := range rc.events {
		seen[ev.DecisionID]++
		want, ok := answered[ev.DecisionID]
		switch {
		case !ok:
			t.Errorf("record %s was never answered by a replica", ev.DecisionID)
		case ev.Labels["id"] != want:
			t.Errorf("record %s labelled %q, answered by %s", ev.DecisionID, ev.Labels["id"], want)
		case ev.Bundles["signgate"].Revision != revisionOf[ev.DecisionID]:
			t.Errorf("record %s decided by revision %q, want %s", ev.DecisionID, ev.Bundles["signgate"].Revision, revisionOf[ev.DecisionID])
		}
		perReplica[ev.Labels["id"]]++
	}
	for id, r := range answered {
		if seen[id] != 1 {
			t.Errorf("decision %s of %s arrived %d times, want exactly once", id, r, seen[id])
		}
	}
	if len(rc.events) != len(answered) || len(answered) != 60 {
		t.Errorf("%d records for %d decisions, want 60 and 60", len(rc.events), len(answered))
	}
	t.Logf("%d records in %d uploads; per replica %v", len(rc.events), rc.posts, perReplica)
}

var listening = regexp.MustCompile(`"msg":"signgate listening".*"addr":"(127\.0\.0\.1:\d+)"`)

func start(t *testing.T, bin, id, cfg string) *replica {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--config", cfg)
	cmd.Env = append(os.Environ(), "SCALEOUT_AK=AKIDSCALEOUT", "SCALEOUT_SK=scale-out-secret")
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &replica{id: id, cmd: cmd, done: make(chan error, 1)}
	addr := make(chan string, 1)
	var tail strings.Builder
	var tailMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
			tailMu.Lock()
			if tail.Len() < 64<<10 {
				tail.WriteString(sc.Text() + "\n")
			}
			tailMu.Unlock()
		}
		r.done <- cmd.Wait()
	}()
	select {
	case r.addr = <-addr:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		tailMu.Lock()
		defer tailMu.Unlock()
		t.Fatalf("%s did not log its address within 30s:\n%s", id, tail.String())
	}
	return r
}

func waitRevision(t *testing.T, reps []*replica, key, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, r := range reps {
		for {
			got := policyRevision(t, r, key)
			if got == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still runs revision %q, want %s", r.id, got, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func policyRevision(t *testing.T, r *replica, key string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+r.addr+"/v1/policy", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p struct {
		Revision string `json:"revision"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&p)
	return p.Revision
}

func sign(t *testing.T, r *replica, key, object string) string {
	t.Helper()
	body := fmt.Sprintf(`{"team":"vision","operation":"read","object":%q}`, object)
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+r.addr+"/v1/sign", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		DecisionID string `json:"decision_id"`
		URL        string `json:"url"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &out) != nil || out.DecisionID == "" || out.URL == "" {
		t.Fatalf("%s: sign %s: %d %s", r.id, object, resp.StatusCode, raw)
	}
	return out.DecisionID
}
