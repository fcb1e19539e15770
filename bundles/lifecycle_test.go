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
	"github.com/signgate/signgate/tests/eventually"
)

// waitForReport waits until cond holds for the engine's report, which it
// shows on failure.
func waitForReport(t *testing.T, e *authz.Engine, what string, cond func(authz.Report) bool) {
	t.Helper()
	eventually.Check(t, 15*time.Second, what, func() error {
		if r := e.Report(); !cond(r) {
			return fmt.Errorf("report %+v, last error %+v", r, r.LastError)
		}
		return nil
	})
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

// last is the latest activation or rejection, checks left out; its Kind is
// "" when there is none.
func (ev *events) last() authz.Event {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for i := len(ev.all) - 1; i >= 0; i-- {
		if ev.all[i].Kind != authz.EventUnchanged {
			return ev.all[i]
		}
	}
	return authz.Event{}
}

// countAfter counts the events of kind that happened after t.
func (ev *events) countAfter(kind authz.EventKind, t time.Time) int {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	n := 0
	for _, e := range ev.all {
		if e.Kind == kind && e.At.After(t) {
			n++
		}
	}
	return n
}

// String lists every event, checks included, with its time after the
// first one, so that a failed assertion shows what the source did.
func (ev *events) String() string {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	var b strings.Builder
	for i, e := range ev.all {
		fmt.Fprintf(&b, "\n  %2d +%v %s", i, e.At.Sub(ev.all[0].At).Round(time.Millisecond), e.Kind)
		if e.Stage != "" {
			fmt.Fprintf(&b, ":%s", e.Stage)
		}
		if e.Revision != "" {
			fmt.Fprintf(&b, " revision %s", e.Revision)
		}
		if e.Err != nil {
			fmt.Fprintf(&b, " (%v)", e.Err)
		}
	}
	return b.String()
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
// It waits for the observers too: the engine tells them after the report
// shows the change, so a test that reads the report and then the events
// may not find the change in the events yet.
func runCycle(t *testing.T, e *authz.Engine, ev *events, steps []step) {
	t.Helper()
	var lastErrAt time.Time
	for _, s := range steps {
		s.offer()
		if s.wantStage == "" {
			eventually.Check(t, 15*time.Second, s.name+": revision "+s.wantRev, func() error {
				r, last := e.Report(), ev.last()
				if r.Active.Revision != s.wantRev || r.LastError != nil || last.Kind != authz.EventActivated || last.Revision != s.wantRev {
					return fmt.Errorf("report %+v, last error %+v; events:%s", r, r.LastError, ev)
				}
				return nil
			})
		} else {
			eventually.Check(t, 15*time.Second, s.name+": a "+string(s.wantStage)+" failure", func() error {
				r, last := e.Report(), ev.last()
				if f := r.LastError; f == nil || !f.At.After(lastErrAt) || f.Stage != s.wantStage || !strings.Contains(f.Err.Error(), s.wantErr) ||
					last.Kind != authz.EventRejected || last.At.Before(f.At) {
					return fmt.Errorf("report %+v, last error %+v; events:%s", r, r.LastError, ev)
				}
				return nil
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
	runCycle(t, e, &ev, cycleSteps(good, wrong, serve, func() { srv.Serve([]byte("this is not a gzipped tarball")) }))

	want := append([]string{"rejected:download"}, wantCycleEvents...)
	if got := dedupe(ev.kinds()); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("events %v, want %v; all events:%s", got, want, &ev)
	}
	// A bundle that cannot be read or verified is downloaded again, after a
	// short backoff, until the next one is served: each such step counts at
	// least once. A bundle that was read is not downloaded again, however
	// long a step takes (TestServiceDoesNotFetchARefusedBundleAgain): one
	// activation per revision and one refusal at the decision.
	r := e.Report()
	if r.Activations != 3 || r.Failures[authz.StageDecision] != 1 || r.Failures[authz.StageRead] < 1 || r.Failures[authz.StageVerify] < 3 {
		t.Errorf("counters: activations %d, failures %v; want 3 activations, 1 decision failure, at least 1 read and 3 verify failures; all events:%s",
			r.Activations, r.Failures, &ev)
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
	runCycle(t, e, &ev, cycleSteps(good, wrong, serve, corrupt))

	// The watcher reloads once the files have been quiet for the debounce
	// interval, which a loaded machine can leave between two files of one
	// update. A half-written directory is then refused, or, while its files
	// still match the active revision's signature, that revision is loaded
	// again. Neither may activate anything else, or come out of order.
	want := append([]string{"activated:r0"}, wantCycleEvents...)
	if got := ev.kinds(); !inOrder(got, want) {
		t.Errorf("events %v, want %v with nothing in between but refusals and reloads of the active revision; all events:%s", dedupe(got), want, &ev)
	}
}

// inOrder reports whether got holds want in order, with nothing in between
// but refusals and repeats of the latest activation.
func inOrder(got, want []string) bool {
	i, active := 0, ""
	for _, g := range got {
		switch {
		case i < len(want) && g == want[i]:
			i++
		case strings.HasPrefix(g, "rejected:"), g == active:
		default:
			return false
		}
		if strings.HasPrefix(g, "activated:") {
			active = g
		}
	}
	return i == len(want)
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
