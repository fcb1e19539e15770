package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signgate/signgate/authz"
)

// candidate writes the embedded policy into a directory, with its data
// changed by edit.
func candidate(t *testing.T, edit func(sg map[string]any)) string {
	t.Helper()
	dir := t.TempDir()
	copyEmbeddedPolicy(t, dir)
	path := filepath.Join(dir, "data.json")
	var data map[string]any
	if err := json.Unmarshal([]byte(mustRead(t, path)), &data); err != nil {
		t.Fatal(err)
	}
	edit(data["signgate"].(map[string]any))
	b, _ := json.Marshal(data)
	replaceFile(t, path, b)
	return dir
}

func team(sg map[string]any, name string) map[string]any {
	return sg["teams"].(map[string]any)[name].(map[string]any)
}

// TestPolicyReplay replays a generated day of records, decided by the
// embedded policy, against three candidates: the same policy (nothing
// changes), one that widens (media may delete) and one that narrows (a
// blocked subject and a shorter read TTL for vision).
func TestPolicyReplay(t *testing.T) {
	records := filepath.Join(t.TempDir(), "audit.jsonl")
	f, err := os.Create(records)
	if err != nil {
		t.Fatal(err)
	}
	genRecords(t, f, 5000, time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), 11)
	f.Close()
	replay := func(t *testing.T, args ...string) (ReplayReport, int) {
		t.Helper()
		var out, errb bytes.Buffer
		code := report(run(context.Background(), append([]string{"policy", "replay", "--format", "json"}, args...), nil, &out, &errb), &errb)
		var rep ReplayReport
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("not a JSON report (exit %d, %s): %s", code, errb.String(), out.String())
		}
		return rep, code
	}
	groups := func(rep ReplayReport) map[string]int {
		m := map[string]int{}
		for _, g := range rep.Groups {
			m[g.Change+" "+g.Reasons] += g.Count
			if len(g.Examples) == 0 || len(g.Examples) > 5 {
				t.Errorf("group %s has %d examples", g.Change, len(g.Examples))
			}
		}
		return m
	}

	t.Run("the policy that decided changes nothing", func(t *testing.T) {
		rep, code := replay(t, "--candidate", candidate(t, func(map[string]any) {}), records)
		if code != 0 || rep.Changed != 0 || rep.Replayed < 5000 || rep.Unchanged != rep.Replayed {
			t.Fatalf("exit %d, %+v", code, rep)
		}
	})
	t.Run("a widening change fails", func(t *testing.T) {
		widen := candidate(t, func(sg map[string]any) {
			team(sg, "media")["operations"] = []any{"read", "write", "delete"}
		})
		rep, code := replay(t, "--candidate", widen, records)
		g := groups(rep)
		if code != 1 || rep.Widening == 0 || rep.Widening != g["deny→allow "] || rep.Narrowing != 0 {
			t.Fatalf("exit %d, widening %d, groups %v", code, rep.Widening, g)
		}
		for _, ex := range rep.Groups[0].Examples {
			if ex.Team != "media" || ex.Operation != "delete" || !ex.After.Allow || ex.Before.Allow {
				t.Errorf("example %+v is not a media delete that became allowed", ex)
			}
		}
		t.Logf("widening: %d of %d decisions, groups %v", rep.Widening, rep.Replayed, g)
		if _, code := replay(t, "--candidate", widen, "--allow-widening", records); code != 0 {
			t.Errorf("--allow-widening: exit %d", code)
		}
		// The same candidate as a bundle.
		tarball := filepath.Join(t.TempDir(), "candidate.tar.gz")
		if err := run(context.Background(), []string{"bundle", "build", widen, "-o", tarball}, nil, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		if fromBundle, code := replay(t, "--candidate", tarball, records); code != 1 || fromBundle.Widening != rep.Widening {
			t.Errorf("from the bundle: exit %d, widening %d, want 1 and %d", code, fromBundle.Widening, rep.Widening)
		}
	})
	t.Run("a narrowing change passes", func(t *testing.T) {
		narrow := candidate(t, func(sg map[string]any) {
			sg["blocked_subjects"] = []any{"user-007"}
			team(sg, "vision")["max_ttl"].(map[string]any)["read"] = 1800
		})
		rep, code := replay(t, "--candidate", narrow, records)
		g := groups(rep)
		if code != 0 || rep.Widening != 0 || g["allow→deny subject_blocked"] == 0 || g["ttl_shorter "] == 0 {
			t.Fatalf("exit %d, groups %v", code, g)
		}
		t.Logf("narrowing: %d of %d decisions, groups %v", rep.Narrowing, rep.Replayed, g)
	})
	t.Run("JUnit report fails the widening case", func(t *testing.T) {
		widen := candidate(t, func(sg map[string]any) { team(sg, "vision")["max_ttl"].(map[string]any)["read"] = 7200 })
		out := filepath.Join(t.TempDir(), "replay.xml")
		var stdout, errb bytes.Buffer
		code := report(run(context.Background(), []string{"policy", "replay", "--candidate", widen, "--format", "junit", "-o", out, records}, nil, &stdout, &errb), &errb)
		x := mustRead(t, out)
		if code != 1 || !strings.Contains(x, `<failure message="the candidate widens these decisions"`) || !strings.Contains(x, "ttl_longer") || strings.Count(x, "<failure") != 1 {
			t.Fatalf("exit %d: %s\n%s", code, errb.String(), x)
		}
	})
	t.Run("usage errors exit 2", func(t *testing.T) {
		var out, errb bytes.Buffer
		if code := report(run(context.Background(), []string{"policy", "replay", records}, nil, &out, &errb), &errb); code != 2 {
			t.Errorf("without --candidate: exit %d", code)
		}
	})
}

func TestReplayCompare(t *testing.T) {
	grant := func(connector, key string, ttl int64) *auditRecord {
		r := &auditRecord{DecisionID: "d"}
		r.Result = &struct {
			Allow      bool     `json:"allow"`
			Reasons    []string `json:"reasons"`
			Connector  string   `json:"connector"`
			Key        string   `json:"key"`
			Operation  string   `json:"operation"`
			TTLSeconds int64    `json:"ttl_seconds"`
		}{Allow: true, Connector: connector, Key: key, TTLSeconds: ttl}
		return r
	}
	deny := func(reasons ...string) *auditRecord {
		r := grant("", "", 0)
		r.Result.Allow, r.Result.Reasons = false, reasons
		return r
	}
	allow := func(connector, key string, ttl int64) authz.Decision {
		return authz.Decision{Allow: true, Connector: connector, Key: key, TTL: time.Duration(ttl) * time.Second}
	}
	tests := []struct {
		name       string
		givenRec   *auditRecord
		givenAfter authz.Decision
		givenErr   error
		wantChange string // empty: unchanged
	}{
		{"the same grant", grant("c", "k", 60), allow("c", "k", 60), nil, ""},
		{"the same deny, reasons in another order", deny("a", "b"), authz.Decision{Reasons: []string{"b", "a"}}, nil, ""},
		{"a grant becomes a deny", grant("c", "k", 60), authz.Decision{Reasons: []string{"subject_blocked"}}, nil, changeAllowToDeny},
		{"a deny becomes a grant", deny("not_team_member"), allow("c", "k", 60), nil, changeDenyToAllow},
		{"a longer TTL", grant("c", "k", 60), allow("c", "k", 120), nil, changeTTLLonger},
		{"a shorter TTL", grant("c", "k", 60), allow("c", "k", 30), nil, changeTTLShorter},
		{"another connector", grant("c", "k", 60), allow("d", "k", 60), nil, changeConnector},
		{"another key", grant("c", "k", 60), allow("c", "j", 60), nil, changeKey},
		{"other reasons", deny("a"), authz.Decision{Reasons: []string{"b"}}, nil, changeReasons},
		{"the candidate fails", grant("c", "k", 60), authz.Decision{}, authz.ErrNotReady, changeCandidateError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, changed := compare(tc.givenRec, tc.givenAfter, tc.givenErr)
			if changed != (tc.wantChange != "") || (changed && c.Change != tc.wantChange) {
				t.Fatalf("change %q (changed %v), want %q", c.Change, changed, tc.wantChange)
			}
		})
	}
}
