package bundles_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/bundle"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/bundles"
	"github.com/signgate/signgate/bundles/bundletest"
)

// waitFor polls cond until it holds, or fails the test after 15 s.
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

// waitForReport is waitFor on the engine's report, which it shows on failure.
func waitForReport(t *testing.T, e *authz.Engine, what string, cond func(authz.Report) bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for r := e.Report(); !cond(r); r = e.Report() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; report %+v, last error %+v", what, r, r.LastError)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func vision(op string) *authz.Input {
	return &authz.Input{
		Subject: authz.Subject{ID: "alice", Teams: []string{"vision"}, AuthMethod: "api_key"},
		Action:  authz.Action{Team: "vision", Operation: op, Object: "a.txt"},
		Source:  authz.Source{IP: "127.0.0.1"},
		Time:    "2026-11-27T10:00:00Z",
	}
}

// events records what the engine tells its observers.
type events struct {
	mu  sync.Mutex
	all []authz.Event
}

func (ev *events) observe(e authz.Event) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	ev.all = append(ev.all, e)
}

// kinds lists "activated:REV" and "rejected:STAGE", leaving checks out.
func (ev *events) kinds() []string {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	var out []string
	for _, e := range ev.all {
		switch e.Kind {
		case authz.EventActivated:
			out = append(out, "activated:"+e.Revision)
		case authz.EventRejected:
			out = append(out, "rejected:"+string(e.Stage))
		}
	}
	return out
}

// step is one update a source offers, and what the engine must make of it.
type step struct {
	name      string
	offer     func()
	wantRev   string        // the active revision afterwards
	wantTTL   time.Duration // of a decision afterwards
	wantStage authz.Stage   // of the refusal; "" when the update activates
	wantErr   string        // in the refusal's error
	wantKeyID string        // of the active revision
}

// runCycle offers each step and waits for the engine to reflect it: the
// new revision, or the refusal while the previous revision keeps deciding.
func runCycle(t *testing.T, e *authz.Engine, steps []step) {
	t.Helper()
	var lastErrAt time.Time
	for _, s := range steps {
		s.offer()
		if s.wantStage == "" {
			waitForReport(t, e, s.name+": revision "+s.wantRev, func(r authz.Report) bool {
				return r.Active.Revision == s.wantRev && r.LastError == nil
			})
		} else {
			waitForReport(t, e, s.name+": a "+string(s.wantStage)+" failure", func(r authz.Report) bool {
				f := r.LastError
				return f != nil && f.At.After(lastErrAt) && f.Stage == s.wantStage && strings.Contains(f.Err.Error(), s.wantErr)
			})
			lastErrAt = e.Report().LastError.At
		}
		r := e.Report()
		if r.Active.Revision != s.wantRev || r.Active.SigningKeyID != s.wantKeyID {
			t.Fatalf("%s: active %+v, want revision %q signed by %q", s.name, r.Active, s.wantRev, s.wantKeyID)
		}
		d, err := e.Decide(context.Background(), vision("read"))
		if err != nil || d.Revision != s.wantRev || d.TTL != s.wantTTL {
			t.Fatalf("%s: decision %+v, err %v; want revision %s with ttl %v", s.name, d, err, s.wantRev, s.wantTTL)
		}
	}
}

// cycleSteps is the life the issue asks for: revisions 1 and 2, then
// updates that must all be refused while revision 2 keeps deciding, then a
// good revision 3. serve offers (files, revision, signing key, scope).
func cycleSteps(good, wrong *bundletest.Key, serve func(name string, files bundletest.Files, rev string, key *bundletest.Key, scope string), corrupt func()) []step {
	allowsStrangers := bundletest.Files{"authz.rego": "package signgate.authz\n\ndecision := {\"allow\": true, \"connector\": \"c1\", \"key\": \"k\", \"operation\": \"read\", \"ttl_seconds\": 5}\n"}
	return []step{
		{name: "revision 1", offer: func() { serve("r1", bundletest.Policy(60), "r1", good, "") }, wantRev: "r1", wantTTL: time.Minute, wantKeyID: good.ID},
		{name: "revision 2", offer: func() { serve("r2", bundletest.Policy(120), "r2", good, "") }, wantRev: "r2", wantTTL: 2 * time.Minute, wantKeyID: good.ID},
		{name: "corrupt bundle", offer: corrupt, wantRev: "r2", wantTTL: 2 * time.Minute, wantStage: authz.StageRead, wantKeyID: good.ID},
		{name: "signed with the wrong key", offer: func() { serve("evil", bundletest.Policy(9999), "evil", wrong, "") },
			wantRev: "r2", wantTTL: 2 * time.Minute, wantStage: authz.StageVerify, wantErr: "verify", wantKeyID: good.ID},
		{name: "unsigned", offer: func() { serve("unsigned", bundletest.Policy(9999), "unsigned", nil, "") },
			wantRev: "r2", wantTTL: 2 * time.Minute, wantStage: authz.StageVerify, wantErr: ".signatures.json", wantKeyID: good.ID},
		{name: "signed out of scope", offer: func() { serve("scoped", bundletest.Policy(9999), "scoped", good, "staging") },
			wantRev: "r2", wantTTL: 2 * time.Minute, wantStage: authz.StageVerify, wantErr: "scope", wantKeyID: good.ID},
		{name: "decision allows strangers", offer: func() { serve("lax", allowsStrangers, "lax", good, "") },
			wantRev: "r2", wantTTL: 2 * time.Minute, wantStage: authz.StageDecision, wantErr: "unknown team", wantKeyID: good.ID},
		{name: "revision 3", offer: func() { serve("r3", bundletest.Policy(180), "r3", good, "") }, wantRev: "r3", wantTTL: 3 * time.Minute, wantKeyID: good.ID},
	}
}

// wantCycleEvents is the cycle's events with repeats collapsed (dedupe):
// three verification failures in a row read as one.
var wantCycleEvents = []string{
	"activated:r1", "activated:r2", "rejected:read", "rejected:verify", "rejected:decision", "activated:r3",
}

// dedupe drops repeats: a source may retry a refused update before the
// next one is offered.
func dedupe(in []string) []string {
	var out []string
	for _, s := range in {
		if len(out) == 0 || out[len(out)-1] != s || !strings.HasPrefix(s, "rejected") {
			out = append(out, s)
		}
	}
	return out
}

func TestServiceLifecycle(t *testing.T) {
	good, wrong := bundletest.NewKey(t, "ci-2026"), bundletest.NewKey(t, "ci-2026")
	srv := bundletest.NewServer(t)
	var ev events
	e := authz.New(authz.WithObserver(ev.observe))
	opaConfig := fmt.Sprintf(`{
		"services": {"policy-hub": {"url": %q}},
		"bundles": {"signgate": {"service": "policy-hub", "resource": %q,
			"polling": {"min_delay_seconds": 1, "max_delay_seconds": 1, "long_polling_timeout_seconds": 10}}}
	}`, srv.URL, srv.Path)
	svc, err := bundles.NewService(e, []byte(opaConfig), bundles.WithVerification(good.Verification(t, "")))
	if err != nil {
		t.Fatal(err)
	}
	svc.Start(context.Background())
	t.Cleanup(func() { svc.Stop(context.Background()) })
	// Nothing served yet: not ready, and the 404 is reported.
	waitForReport(t, e, "the first download to fail", func(r authz.Report) bool {
		return r.LastError != nil && r.LastError.Stage == authz.StageDownload && strings.Contains(r.LastError.Err.Error(), "Not Found")
	})
	if e.Ready() {
		t.Fatal("ready before any bundle was served")
	}

	serve := func(_ string, files bundletest.Files, rev string, key *bundletest.Key, scope string) {
		srv.Serve(bundletest.Tarball(t, files, rev, key, scope))
	}
	runCycle(t, e, cycleSteps(good, wrong, serve, func() { srv.Serve([]byte("this is not a gzipped tarball")) }))

	want := append([]string{"rejected:download"}, wantCycleEvents...)
	if got := dedupe(ev.kinds()); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("events %v, want %v", got, want)
	}
	r := e.Report()
	if r.Activations != 3 || r.Failures[authz.StageVerify] < 3 || r.Failures[authz.StageRead] < 1 || r.Failures[authz.StageDecision] != 1 {
		t.Errorf("counters: activations %d, failures %v", r.Activations, r.Failures)
	}
	if want := "service:" + srv.URL + srv.Path; r.Active.Source != want || svc.Source() != want {
		t.Errorf("source %q (service says %q), want %q", r.Active.Source, svc.Source(), want)
	}
	if r.LastCheck.IsZero() || r.LastCheck.Before(r.Active.ActivatedAt) {
		t.Errorf("last check %v, activated %v", r.LastCheck, r.Active.ActivatedAt)
	}
}

func TestDirectoryLifecycle(t *testing.T) {
	good, wrong := bundletest.NewKey(t, "ci-2026"), bundletest.NewKey(t, "ci-2026")
	dir := t.TempDir()
	bundletest.WriteDir(t, dir, bundletest.Policy(30), "r0", good)
	var ev events
	e := authz.New(authz.WithObserver(ev.observe))
	dw, err := bundles.WatchDir(context.Background(), e, dir,
		bundles.WithVerification(good.Verification(t, "")), bundles.WithDebounce(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dw.Close() })
	if st, _ := e.Status(); st.Revision != "r0" || st.Source != "directory:"+dir || st.SigningKeyID != "ci-2026" {
		t.Fatalf("first load: %+v", st)
	}

	serve := func(_ string, files bundletest.Files, rev string, key *bundletest.Key, scope string) {
		if scope != "" {
			// WriteDir signs without a scope; write the scoped signature over it.
			bundletest.WriteDir(t, dir, files, rev, nil)
			writeSignature(t, dir, bundletest.Build(t, files, rev, key, scope))
			return
		}
		bundletest.WriteDir(t, dir, files, rev, key)
	}
	corrupt := func() {
		bundletest.WriteDir(t, dir, bundletest.Files{"authz.rego": "package signgate.authz\n\ndecision := {"}, "broken", good)
	}
	runCycle(t, e, cycleSteps(good, wrong, serve, corrupt))

	want := append([]string{"activated:r0"}, wantCycleEvents...)
	if got := dedupe(ev.kinds()); strings.Join(got, " ") != strings.Join(want, " ") {
		// A half-written directory may be refused on the way; every refusal
		// must still leave the previous revision in place, which runCycle
		// checked. Only activations must be exactly these.
		if activations(got) != activations(want) {
			t.Errorf("events %v, want %v", got, want)
		}
	}
}

func writeSignature(t *testing.T, dir string, b *bundle.Bundle) {
	t.Helper()
	body, err := json.Marshal(b.Signatures)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".signatures.json"), body, 0o644); err != nil {
		t.Fatal(err)
	}
}

func activations(kinds []string) string {
	var out []string
	for _, k := range kinds {
		if strings.HasPrefix(k, "activated:") {
			out = append(out, k)
		}
	}
	return strings.Join(out, " ")
}

func TestWatchDirRefusesABadFirstLoad(t *testing.T) {
	dir := t.TempDir()
	bundletest.WriteDir(t, dir, bundletest.Policy(30), "r0", nil)
	key := bundletest.NewKey(t, "ci")
	e := authz.New()
	if _, err := bundles.WatchDir(context.Background(), e, dir, bundles.WithVerification(key.Verification(t, ""))); err == nil {
		t.Fatal("an unsigned directory was accepted with verification on")
	}
	r := e.Report()
	if r.Ready || r.LastError == nil || r.LastError.Stage != authz.StageVerify {
		t.Fatalf("report %+v", r)
	}
}
