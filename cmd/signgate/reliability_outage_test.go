package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signgate/signgate/bundles/bundletest"
	"github.com/signgate/signgate/tests/decisionlog"
)

// flakyLogService is an OPA decision-log service (gzipped JSON arrays on
// POST /logs) that can be taken down: it then answers 503, or closes the
// connection without an answer. Only the records of uploads it answered
// 200 count as received.
type flakyLogService struct {
	*httptest.Server
	state atomic.Int32 // one of serviceUp, serviceUnavailable, serviceClosed

	mu       sync.Mutex
	received map[string]int // decision id -> records acknowledged
	refused  int            // uploads refused while down
}

const (
	serviceUp int32 = iota
	serviceUnavailable
	serviceClosed
)

func newFlakyLogService(t *testing.T) *flakyLogService {
	t.Helper()
	s := &flakyLogService{received: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.Close)
	return s
}

func (s *flakyLogService) handle(w http.ResponseWriter, r *http.Request) {
	switch s.state.Load() {
	case serviceUnavailable:
		s.refuse()
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	case serviceClosed:
		s.refuse()
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	batch, ok := decisionlog.ReadBatch[struct {
		DecisionID string `json:"decision_id"`
	}](w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	for _, e := range batch {
		s.received[e.DecisionID]++
	}
	s.mu.Unlock()
}

func (s *flakyLogService) refuse() {
	s.mu.Lock()
	s.refused++
	s.mu.Unlock()
}

func (s *flakyLogService) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received[id] > 0
}

func (s *flakyLogService) counts() (ids, refused int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.received), s.refused
}

// answer is what a load client kept of one /v1/sign call.
type answer struct {
	status     int
	decisionID string
	url        string
	code       string
}

// signAs posts one /v1/sign for team as the limits test key.
func signAs(hc *http.Client, base, team string) (answer, error) {
	body := fmt.Sprintf(`{"team":%q,"operation":"read","object":"runs/42/model.pt"}`, team)
	req, err := http.NewRequest("POST", base+"/v1/sign", strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Authorization", "Bearer limits-test-key")
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	var out struct {
		DecisionID string `json:"decision_id"`
		URL        string `json:"url"`
		Code       string `json:"code"`
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	return answer{resp.StatusCode, out.DecisionID, out.URL, out.Code}, err
}

// droppedTotal sums signgate_audit_dropped_total over its reasons.
func droppedTotal(t *testing.T, admin string) (total float64, byReason map[string]float64) {
	t.Helper()
	byReason = map[string]float64{}
	for line := range strings.Lines(scrape(t, admin)) {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || !strings.HasPrefix(name, "signgate_audit_dropped_total{") {
			continue
		}
		v, err := strconv.ParseFloat(rest, 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		reason := strings.TrimSuffix(strings.TrimPrefix(name, `signgate_audit_dropped_total{reason="`), `"}`)
		byReason[reason] = v
		total += v
	}
	return total, byReason
}

// TestDecisionLogServiceDownUnderLoad: two paced workers sign and two get
// denied without pause while the decision-log service answers 503 for half a
// second and then closes connections for half a second, before it comes
// back. strict: every URL handed out has a record the service
// acknowledged, and a request whose record could not be stored got a 503
// and no URL. best_effort: every URL handed out has a record the service
// received; what was lost is counted in signgate_audit_dropped_total, and
// it is records of denials only.
func TestDecisionLogServiceDownUnderLoad(t *testing.T) {
	for _, mode := range []string{"strict", "best_effort"} {
		t.Run(mode, func(t *testing.T) {
			logs := newFlakyLogService(t)
			// An upload buffer (uploads once a second) that the unpaced
			// denials overfill, the more so while the service is down, and
			// that the issued URLs of the paced signers do not.
			_, c, admin := limitsServe(t, "", fmt.Sprintf(
				"{mode: %s, sink: service, service: {url: %q, min_delay: 1s, max_delay: 1s, timeout: 1s}, buffer_size: 800, strict_timeout: 2s}",
				mode, logs.URL))
			// At most 20,000 calls: within the key's rate-limit burst.
			const signers, deniers, maxPerWorker = 2, 2, 5000
			const loadFor = 2500 * time.Millisecond
			var (
				mu                          sync.Mutex
				issued, denied, unavailable []answer
				other                       []string
			)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			worker := func(team string, pace time.Duration) {
				tr := &http.Transport{MaxIdleConnsPerHost: 1}
				defer tr.CloseIdleConnections()
				hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
				for range maxPerWorker {
					select {
					case <-stop:
						return
					default:
					}
					a, err := signAs(hc, c.base, team)
					mu.Lock()
					switch {
					case err != nil:
						other = append(other, err.Error())
					case a.status == http.StatusOK:
						issued = append(issued, a)
					case a.status == http.StatusForbidden:
						denied = append(denied, a)
					case a.status == http.StatusServiceUnavailable:
						unavailable = append(unavailable, a)
					default:
						other = append(other, fmt.Sprintf("%d %s", a.status, a.code))
					}
					mu.Unlock()
					time.Sleep(pace)
				}
			}
			for range signers {
				wg.Go(func() { worker("vision", 20*time.Millisecond) })
			}
			for range deniers {
				wg.Go(func() { worker("research", 0) })
			}
			time.Sleep(500 * time.Millisecond)
			logs.state.Store(serviceUnavailable)
			time.Sleep(500 * time.Millisecond)
			logs.state.Store(serviceClosed)
			time.Sleep(500 * time.Millisecond)
			logs.state.Store(serviceUp)
			time.Sleep(loadFor - 1500*time.Millisecond)
			close(stop)
			wg.Wait()

			if len(other) > 0 {
				t.Errorf("%d answers other than 200, 403 and 503, such as %q", len(other), other[0])
			}
			if len(issued) == 0 || len(denied) == 0 {
				t.Fatalf("%d issued, %d denied: the load never ran", len(issued), len(denied))
			}
			for _, a := range unavailable {
				if a.url != "" || a.code != "audit_unavailable" {
					t.Errorf("a 503 with code %q and url %q: want audit_unavailable and no URL", a.code, a.url)
				}
			}
			if mode == "best_effort" && len(unavailable) > 0 {
				t.Errorf("best_effort: %d requests got 503; a 1 s outage must not hold them", len(unavailable))
			}

			// Every URL handed out has its record at the service once it is
			// back: in strict mode before the answer, in best_effort within
			// a few uploads.
			lost := func() (n int) {
				for _, a := range issued {
					if !logs.has(a.decisionID) {
						n++
					}
				}
				return n
			}
			if mode == "strict" {
				if n := lost(); n > 0 {
					t.Errorf("strict: %d of %d URLs were handed out before the service acknowledged their record", n, len(issued))
				}
			} else {
				deadline := time.Now().Add(10 * time.Second)
				for lost() > 0 && time.Now().Before(deadline) {
					time.Sleep(50 * time.Millisecond)
				}
				if n := lost(); n > 0 {
					t.Errorf("best_effort: %d of %d issued URLs have no record at the service", n, len(issued))
				}
			}
			time.Sleep(1500 * time.Millisecond) // one more upload for the denials left in the buffer
			dropped, byReason := droppedTotal(t, admin)
			deniedMissing := 0
			for _, a := range denied {
				if !logs.has(a.decisionID) {
					deniedMissing++
				}
			}
			ids, refused := logs.counts()
			t.Logf("%s: %d answered 200 (URL issued), %d answered 403, %d answered 503 (no URL); the service refused %d uploads while down and acknowledged records of %d decisions; dropped %v (%v); denials without a record at the service: %d",
				mode, len(issued), len(denied), len(unavailable), refused, ids, dropped, byReason, deniedMissing)
			if refused == 0 {
				t.Fatal("no upload reached the service while it was down: the outage was not exercised")
			}
			switch mode {
			case "strict":
				if dropped != 0 {
					t.Errorf("strict: %v records dropped, want 0", dropped)
				}
				if deniedMissing > 0 {
					t.Errorf("strict: %d denials answered without an acknowledged record", deniedMissing)
				}
			case "best_effort":
				// What the service lacks was dropped, and counted.
				if float64(deniedMissing) > dropped {
					t.Errorf("best_effort: %d denial records missing at the service, only %v counted as dropped", deniedMissing, dropped)
				}
			}
		})
	}
}

// flappingBundleService sits in front of a bundletest.Server: each
// download it answers in turn with a 503, a closed connection, bytes that
// are no bundle, a signed bundle that does not compile, a bundle signed by
// another key, and the good bundle, until it is told to stay good.
type flappingBundleService struct {
	*httptest.Server
	good   *bundletest.Server
	bodies map[string][]byte // the corrupt answers, by name
	steady atomic.Bool

	mu     sync.Mutex
	next   int
	served map[string]int
}

var flapCycle = []string{"unavailable", "closed", "garbage", "broken_rego", "wrong_key", "good"}

func (f *flappingBundleService) handle(w http.ResponseWriter, r *http.Request) {
	kind := "good"
	if !f.steady.Load() {
		f.mu.Lock()
		kind = flapCycle[f.next%len(flapCycle)]
		f.next++
		f.mu.Unlock()
	}
	f.mu.Lock()
	f.served[kind]++
	f.mu.Unlock()
	switch kind {
	case "unavailable":
		http.Error(w, "down", http.StatusServiceUnavailable)
	case "closed":
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
	case "good":
		f.good.Config.Handler.ServeHTTP(w, r)
	default:
		w.Header().Set("Content-Type", "application/gzip")
		w.Header().Set("ETag", `"`+kind+`"`)
		_, _ = w.Write(f.bodies[kind])
	}
}

// TestBundleServerFlapsLastGoodRevisionServes: with revision "good" active,
// the bundle server flaps between down, closed, corrupt, uncompilable,
// forged and good, polled every second and retried on every error, while
// workers sign. Every request is decided by revision "good"
// (its TTL of 600 s, where the forged one has 60 s), none gets a 503 or a
// 500, and /v1/policy shows "good" at the end.
func TestBundleServerFlapsLastGoodRevisionServes(t *testing.T) {
	key, forger := bundletest.NewKey(t, "ci"), bundletest.NewKey(t, "ci")
	_, pub := writeKeys(t, key)
	good := bundletest.NewServer(t)
	good.Serve(bundletest.Tarball(t, bundletest.Policy(600), "good", key))
	f := &flappingBundleService{good: good, served: map[string]int{}, bodies: map[string][]byte{
		"garbage":     []byte("this is no bundle"),
		"broken_rego": bundletest.Tarball(t, bundletest.Files{"authz.rego": "package signgate.authz\n\ndecision := {", "data.json": `{"ttl": 60}`}, "broken", key),
		"wrong_key":   bundletest.Tarball(t, bundletest.Policy(60), "forged", forger),
	}}
	f.steady.Store(true)
	f.Server = httptest.NewServer(http.HandlerFunc(f.handle))
	t.Cleanup(f.Close)

	const apiKey = "flap-test-key"
	sum := sha256.Sum256([]byte(apiKey))
	cfg := fmt.Sprintf(`
listen: 127.0.0.1:0
policy:
  source: service
  require_bundle: true
  opa_config:
    services: {hub: {url: %q}}
    bundles:
      signgate: {service: hub, resource: %q, polling: {min_delay_seconds: 1, max_delay_seconds: 1}}
  verification:
    keys: {ci: {algorithm: ES256, key_file: %q}}
    key_id: ci
auth:
  api_keys: [{sha256: %q, subject: ops, teams: [vision]}]
connectors:
  c1: {provider: s3, bucket: acme-c1, region: us-east-1, endpoint: "http://127.0.0.1:9",
       credentials: {access_key_id_env: FLAP_TEST_AK, secret_access_key_env: FLAP_TEST_SK}}
audit: {sink: none}
`, f.URL, good.Path, pub, hex.EncodeToString(sum[:]))
	path := filepath.Join(t.TempDir(), "signgate.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FLAP_TEST_AK", "AKIDFLAPTEST")
	t.Setenv("FLAP_TEST_SK", "flap-test-secret")
	s := startServe(t, "--config", path)
	base := "http://" + s.addr
	policy := func() map[string]any {
		req, _ := http.NewRequest("GET", base+"/v1/policy", nil)
		req.Header.Set("Authorization", "Bearer "+apiKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&p)
		return p
	}
	waitFor(t, `revision "good"`, func() bool { return policy()["revision"] == "good" })

	f.steady.Store(false)
	// Paced under the key's rate limit (1,000 a second by default).
	const workers, maxPerWorker, pace = 4, 2000, 5 * time.Millisecond
	var ok, wrongTTL atomic.Int64
	var mu sync.Mutex
	bad := map[string]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			tr := &http.Transport{MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for range maxPerWorker {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", base+"/v1/sign", strings.NewReader(`{"team":"vision","operation":"read","object":"runs/42/model.pt"}`))
				req.Header.Set("Authorization", "Bearer "+apiKey)
				req.Header.Set("Content-Type", "application/json")
				var out struct {
					URL  string `json:"url"`
					Code string `json:"code"`
				}
				resp, err := hc.Do(req)
				if err == nil {
					err = json.NewDecoder(resp.Body).Decode(&out)
					resp.Body.Close()
				}
				switch {
				case err != nil:
					mu.Lock()
					bad["error: "+err.Error()]++
					mu.Unlock()
				case resp.StatusCode != http.StatusOK:
					mu.Lock()
					bad[fmt.Sprintf("%d %s", resp.StatusCode, out.Code)]++
					mu.Unlock()
				default:
					u, err := url.Parse(out.URL)
					if err == nil && u.Query().Get("X-Amz-Expires") == "600" {
						ok.Add(1)
					} else {
						wrongTTL.Add(1)
					}
				}
				time.Sleep(pace)
			}
		})
	}
	// The flap lasts as long as the load: 3.5 s and at least one whole
	// cycle, at most 10 s or until every worker has made its calls.
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	start := time.Now()
	cycled := func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.next >= len(flapCycle)
	}
wait:
	for time.Since(start) < 3500*time.Millisecond || !cycled() && time.Since(start) < 10*time.Second {
		select {
		case <-time.After(50 * time.Millisecond):
		case <-finished:
			break wait
		}
	}
	close(stop)
	<-finished
	f.steady.Store(true)
	loaded := time.Since(start)

	f.mu.Lock()
	served := fmt.Sprint(f.served)
	missed := []string{}
	for _, kind := range flapCycle {
		if f.served[kind] == 0 {
			missed = append(missed, kind)
		}
	}
	f.mu.Unlock()
	end := policy()
	lastErr, _ := end["last_error"].(map[string]any)
	t.Logf("in %s of flapping: %d requests answered 200 by revision good, %d by another revision, other answers %v; bundle server answers: %s; at the end /v1/policy revision %v, last refused update %v",
		loaded.Round(time.Millisecond), ok.Load(), wrongTTL.Load(), bad, served, end["revision"], lastErr)
	if ok.Load() == 0 {
		t.Fatal("no request was answered: the load never ran")
	}
	if len(missed) > 0 {
		t.Fatalf("the bundle server never answered %v while flapping: the flap was not exercised", missed)
	}
	if wrongTTL.Load() > 0 {
		t.Errorf("%d requests were decided by a revision other than good", wrongTTL.Load())
	}
	if len(bad) > 0 {
		t.Errorf("answers other than 200 while the bundle server flapped: %v", bad)
	}
	if end["revision"] != "good" || end["ready"] != true {
		t.Errorf("/v1/policy at the end: %v, want revision good", end)
	}
}
