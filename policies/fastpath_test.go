package policies_test

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/signgate/signgate/policies"
)

// fullMarker replaces full_decision to tell whether a fast path answered.
const fullMarker = "full_decision"

// TestFastPathsAgreeWithFullDecision is a seeded property test: for random
// teams (well formed and broken), global deny lists and requests, with the
// data in the store as signgate loads it rather than set with `with`,
// decision equals full_decision, and whenever a fast path answers, it
// answers what full_decision would have.
func TestFastPathsAgreeWithFullDecision(t *testing.T) {
	const perDataSet = 600
	r := rand.New(rand.NewPCG(18, 3))
	teams := randomTeams(r, 120)
	globals := []any{nil, []any{}, []any{"user-7"}, []any{"key:user-3", "jwt:https://login.example.com/#user-5"}, "user-1"}
	var fast, fullGrants, denies int
	for _, global := range globals {
		signgate := map[string]any{"teams": teams}
		if global != nil {
			signgate["blocked_subjects"] = global
		}
		decision, full, marked := prepareDecisions(t, map[string]any{"signgate": signgate})
		for range perDataSet {
			in := randomInput(r, len(teams))
			d := evalOne(t, decision, in)
			f := evalOne(t, full, in)
			if !reflect.DeepEqual(d, f) {
				t.Fatalf("global deny list %v, input %v:\ndecision      %v\nfull_decision %v", global, in, d, f)
			}
			m := evalOne(t, marked, in)
			switch {
			case m != fullMarker:
				fast++
			case f.(map[string]any)["allow"] == true:
				fullGrants++
			default:
				denies++
			}
		}
	}
	t.Logf("%d requests: %d on a fast path, %d granted by full_decision, %d denied", len(globals)*perDataSet, fast, fullGrants, denies)
	if fast == 0 || fullGrants == 0 || denies == 0 {
		t.Errorf("fast paths %d, full_decision grants %d, denies %d: want each outcome reached", fast, fullGrants, denies)
	}
}

// prepareDecisions compiles the shipped policy on data, and prepares
// decision, full_decision and decision with full_decision replaced by
// fullMarker.
func prepareDecisions(t *testing.T, data map[string]any) (decision, full, marked rego.PreparedEvalQuery) {
	t.Helper()
	names, err := fs.Glob(policies.FS, "*.rego")
	if err != nil {
		t.Fatal(err)
	}
	var opts []func(*rego.Rego)
	for _, name := range names {
		if strings.HasSuffix(name, "_test.rego") {
			continue
		}
		src, err := fs.ReadFile(policies.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, rego.Module(name, string(src)))
	}
	store := inmem.NewFromObject(data)
	prepare := func(query string) rego.PreparedEvalQuery {
		pq, err := rego.New(append(opts, rego.Query(query), rego.Store(store))...).PrepareForEval(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return pq
	}
	return prepare("data.signgate.authz.decision"),
		prepare("data.signgate.authz.full_decision"),
		prepare(fmt.Sprintf("data.signgate.authz.decision with data.signgate.authz.full_decision as %q", fullMarker))
}

func evalOne(t *testing.T, pq rego.PreparedEvalQuery, in map[string]any) any {
	t.Helper()
	rs, err := pq.Eval(context.Background(), rego.EvalInput(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		t.Fatalf("input %v: %d results, want 1", in, len(rs))
	}
	return rs[0].Expressions[0].Value
}

// pick returns one of choices at random.
func pick[T any](r *rand.Rand, choices ...T) T { return choices[r.IntN(len(choices))] }

// absent marks a key that randomTeams and randomInput leave out.
type absent struct{}

func setUnlessAbsent(m map[string]any, key string, v any) {
	if _, ok := v.(absent); !ok {
		m[key] = v
	}
}

// field draws a value: one of good most of the time, otherwise one
// of bad (absent{} leaves the field out).
func field(r *rand.Rand, good, bad []any) any {
	if r.IntN(16) == 0 {
		return bad[r.IntN(len(bad))]
	}
	return good[r.IntN(len(good))]
}

// randomTeams makes n teams named team-0..team-(n-1), each field drawn
// from values that pass and, now and then, values that fail the policy's
// checks.
func randomTeams(r *rand.Rand, n int) map[string]any {
	teams := make(map[string]any, n)
	for i := range n {
		name := fmt.Sprintf("team-%d", i)
		t := map[string]any{}
		setUnlessAbsent(t, "connector", field(r, []any{name + "-s3"}, []any{7, absent{}}))
		setUnlessAbsent(t, "prefix", field(r, []any{name + "/"}, []any{name, absent{}}))
		setUnlessAbsent(t, "operations", field(r,
			[]any{[]any{"read", "write", "delete"}, []any{"read", "write", "delete"}, []any{"read"}, []any{"write", "read"}},
			[]any{[]any{"read", "list"}, []any{}, absent{}}))
		setUnlessAbsent(t, "max_ttl", field(r,
			[]any{map[string]any{"read": 3600, "write": 86400, "delete": 1800}, map[string]any{"read": 900, "write": 600, "delete": 900}},
			[]any{map[string]any{"read": 60}, map[string]any{"read": "1h", "write": 0, "list": 60}, absent{}}))
		setUnlessAbsent(t, "cidrs", field(r,
			[]any{absent{}, absent{}, []any{"192.168.0.0/16", "10.0.0.0/8"}, []any{"10.8.0.0/16"}},
			[]any{nil, []any{}, "10.0.0.0/8"}))
		setUnlessAbsent(t, "members", field(r,
			[]any{absent{}, []any{"user-1", "key:user-2", "jwt:https://login.example.com/#user-3"}},
			[]any{[]any{}}))
		setUnlessAbsent(t, "blocked_subjects", field(r, []any{absent{}, absent{}, []any{}}, []any{[]any{"user-2"}, "user-4"}))
		setUnlessAbsent(t, "max_upload_bytes", field(r, []any{absent{}, 5000, int64(64) << 30}, []any{1.5, "1GB", nil}))
		setUnlessAbsent(t, "upload_constraints", field(r,
			[]any{
				absent{}, absent{},
				map[string]any{"max_bytes": 1000, "content_type": "image/"},
				map[string]any{"content_type": "text/csv", "content_md5": "1B2M2Y8AsgTpgAmY7PhCfg=="},
				map[string]any{"content_md5": "1B2M2Y8AsgTpgAmY7PhCfg==", "advisory": []any{"content_md5"}},
				map[string]any{"max_bytes": int64(4) << 30, "advisory": []any{}},
			},
			[]any{
				nil, map[string]any{}, map[string]any{"max_bytes": "1kB"}, map[string]any{"content_type": ""},
				map[string]any{"region": "eu"}, []any{"max_bytes"},
			}))
		teams[name] = t
	}
	return teams
}

// randomInput makes a request for one of n teams (or an unknown one), in
// the shape of docs/policy.md's input, with some fields broken.
func randomInput(r *rand.Rand, n int) map[string]any {
	team := fmt.Sprintf("team-%d", r.IntN(n+n/20)) // now and then no such team
	user := fmt.Sprintf("user-%d", r.IntN(20))
	subject := map[string]any{"id": user, "principal": "key:" + user, "auth_method": "api_key", "claims": map[string]any{}}
	switch r.IntN(5) {
	case 0, 4:
		subject["teams"] = []any{"shared", team}
	case 1:
		subject["teams"] = []any{"shared"}
	case 2:
		subject["teams"] = []any{team}
		subject["auth_method"] = "jwt"
		subject["principal"] = "jwt:https://login.example.com/#" + user
	default:
		email := user + "@example.com"
		subject["id"], subject["auth_method"] = email, "jwt"
		subject["principal"] = "jwt:https://login.example.com/#" + email
		subject["teams"] = []any{team}
		claims := map[string]any{"email": email}
		setUnlessAbsent(claims, "email_verified", pick[any](r, true, false, absent{}))
		subject["claims"] = claims
	}
	action := map[string]any{
		"team":      team,
		"operation": pick(r, "read", "read", "read", "write", "write", "delete", "delete", "list"),
		"object":    field(r, []any{"runs/42/model.pt"}, []any{42}),
	}
	setUnlessAbsent(action, "expires_in", field(r, []any{absent{}, 900, 7200}, []any{0, nil, -1, 1.5, "900"}))
	setUnlessAbsent(action, "size", field(r, []any{absent{}, absent{}, 500, 2000, int64(1) << 30}, []any{nil, 1.5, -3}))
	setUnlessAbsent(action, "content_type", field(r, []any{absent{}, "image/png", "text/csv"}, []any{"", "application/json"}))
	return map[string]any{
		"subject": subject,
		"action":  action,
		"source":  map[string]any{"ip": pick(r, "10.8.1.2", "10.8.1.2", "192.168.3.4", "8.8.8.8"), "user_agent": "curl/8"},
		"time":    "2026-11-27T10:00:00Z",
	}
}
