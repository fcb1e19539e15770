package server_test

import (
	"strings"
	"testing"

	"github.com/signgate/signgate/server"
)

// adminHarness serves the embedded policy, with mallory on the deny-list,
// and makes alice an admin.
func adminHarness(t *testing.T) *harness {
	t.Helper()
	signers := exampleSigners(t)
	engine := embeddedEngine(t, signers, func(data map[string]any) {
		data["signgate"].(map[string]any)["blocked_subjects"] = []any{"mallory"}
	})
	rec := &recorder{}
	return &harness{e: server.New(engine, signers, testKeys(t),
		server.WithClock(clock), server.WithAuditor(rec), server.WithExplainSubjects([]string{"alice"})), records: rec}
}

func TestDecideAsAnyone(t *testing.T) {
	h := adminHarness(t)
	tests := []struct {
		name, givenKey, givenBody string
		wantStatus                int
		wantCode                  string
		wantReasons               string
	}{
		{
			name:     "an admin reproduces another subject's upload_too_large",
			givenKey: aliceKey,
			givenBody: `{"team":"media","operation":"write","object":"cat.png","size":20971520,
				"subject":{"id":"dan","auth_method":"jwt","teams":["media"]},"source":{"ip":"10.1.2.3"},"time":"2026-11-27T10:00:00Z"}`,
			wantStatus: 200, wantReasons: "[upload_too_large]",
		},
		{
			name:       "an admin sees a blocked subject's denial",
			givenKey:   aliceKey,
			givenBody:  `{"team":"vision","operation":"read","object":"a","subject":{"id":"mallory","auth_method":"api_key","teams":["vision"]}}`,
			wantStatus: 200, wantReasons: "[subject_blocked]",
		},
		{
			name:       "an admin's source ip reaches the network check",
			givenKey:   aliceKey,
			givenBody:  `{"team":"contractors","operation":"read","object":"a","subject":{"id":"carol","auth_method":"api_key","teams":[]},"source":{"ip":"203.0.113.9"}}`,
			wantStatus: 200, wantReasons: "[network_not_allowed]",
		},
		{name: "a normal caller may not decide as someone else", givenKey: bobKey, givenBody: `{"team":"nlp","operation":"read","object":"a","subject":{"id":"alice","auth_method":"api_key","teams":["vision"]}}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "a normal caller may not give a size", givenKey: bobKey, givenBody: `{"team":"nlp","operation":"write","object":"a","size":1}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "an admin's subject needs an id", givenKey: aliceKey, givenBody: `{"team":"vision","operation":"read","object":"a","subject":{"teams":["vision"]}}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "an admin's source ip must be an IP", givenKey: aliceKey, givenBody: `{"team":"vision","operation":"read","object":"a","source":{"ip":"nope"}}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "an admin's time must be RFC 3339", givenKey: aliceKey, givenBody: `{"team":"vision","operation":"read","object":"a","time":"yesterday"}`, wantStatus: 400, wantCode: "invalid_request"},
		{name: "an admin's unknown field is still refused", givenKey: aliceKey, givenBody: `{"team":"vision","operation":"read","object":"a","as":"bob"}`, wantStatus: 400, wantCode: "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := len(h.records.recs)
			r := h.do(t, "POST", "/v1/decide", tc.givenKey, tc.givenBody)
			if r.status != tc.wantStatus || (tc.wantCode != "" && r.body["code"] != tc.wantCode) {
				t.Fatalf("got %d %s", r.status, r.raw)
			}
			if tc.wantReasons == "" {
				return
			}
			if got := strings.ReplaceAll(strings.Trim(strings.Join(strs(r.body["reasons"]), " "), " "), "", ""); "["+got+"]" != tc.wantReasons || r.body["allow"] != false {
				t.Fatalf("reasons %v, want %s: %s", r.body["reasons"], tc.wantReasons, r.raw)
			}
			if len(h.records.recs) != n+1 {
				t.Fatalf("want one record, got %d", len(h.records.recs)-n)
			}
		})
	}
	// The record holds the input the admin gave: what the policy saw.
	in := h.records.recs[0].Input
	if in.Subject.ID != "dan" || in.Action.Size != 20971520 || in.Source.IP != "10.1.2.3" || in.Time != "2026-11-27T10:00:00Z" {
		t.Fatalf("record input %+v", in)
	}
}

func TestDecideExplainModes(t *testing.T) {
	h := adminHarness(t)
	body := `{"team":"media","operation":"write","object":"cat.png","size":20971520,"subject":{"id":"dan","auth_method":"jwt","teams":["media"]}}`
	explain := func(query string) []string {
		t.Helper()
		r := h.do(t, "POST", "/v1/decide"+query, aliceKey, body)
		if r.status != 200 || r.body["allow"] != false {
			t.Fatalf("%s: %d %s", query, r.status, r.raw)
		}
		return strs(r.body["explanation"])
	}
	fails, full := explain("?explain"), explain("?explain=full")
	if got := explain("?explain=fails"); strings.Join(got, "\n") != strings.Join(fails, "\n") {
		t.Errorf("?explain and ?explain=fails differ:\n%v\n%v", fails, got)
	}
	if len(fails) == 0 || len(fails) > 40 || len(full) < 4*len(fails) {
		t.Errorf("fails has %d lines, full %d: want fails short and full much longer", len(fails), len(full))
	}
	for _, l := range fails {
		if !strings.Contains(l, ".rego:") || !strings.Contains(l, "Fail ") {
			t.Errorf("fails line without a failed expression and its file:line: %q", l)
		}
	}
	if text := strings.Join(fails, "\n"); !strings.Contains(text, "uploads.rego:") {
		t.Errorf("fails does not point into uploads.rego, where the size check is:\n%s", text)
	}
	t.Logf("fails: %d lines, full: %d lines\n%s", len(fails), len(full), strings.Join(fails, "\n"))
	if notes := explain("?explain=notes"); len(notes) != 0 {
		t.Errorf("the policy has no trace() notes, got %v", notes)
	}
	if r := h.do(t, "POST", "/v1/decide?explain=debug", aliceKey, body); r.status != 400 || r.body["code"] != "invalid_request" {
		t.Errorf("unknown mode: %d %s", r.status, r.raw)
	}
	if r := h.do(t, "POST", "/v1/decide?explain=fails", bobKey, `{"team":"nlp","operation":"read","object":"a"}`); r.status != 403 || r.body["code"] != "explain_not_allowed" {
		t.Errorf("a normal caller: %d %s", r.status, r.raw)
	}
}

func strs(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, s := range l {
		str, _ := s.(string)
		out = append(out, str)
	}
	return out
}
