package authz_test

import (
	"context"
	"fmt"
	"github.com/signgate/signgate/authz"
	"testing"

	"github.com/signgate/signgate/bundles"
	"github.com/signgate/signgate/policies"
)

// BenchmarkDecide measures one decision of the default policy with its
// example data: the policy cost of every sign request.
func BenchmarkDecide(b *testing.B) {
	e := authz.New()
	bn, err := bundles.LoadFS(policies.FS)
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Activate(context.Background(), bn, "embedded"); err != nil {
		b.Fatal(err)
	}
	in := &authz.Input{
		Subject: authz.Subject{ID: "alice", Teams: []string{"vision"}, AuthMethod: "api_key"},
		Action:  authz.Action{Team: "vision", Operation: "read", Object: "runs/42/model.pt", ExpiresIn: 900},
		Source:  authz.Source{IP: "10.1.2.3", UserAgent: "bench"},
		Time:    "2026-11-27T10:00:00Z",
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		d, err := e.Decide(ctx, in)
		if err != nil || !d.Allow {
			b.Fatalf("decision %+v, err %v", d, err)
		}
	}
}

// BenchmarkDecide100Teams measures one decision of the default policy with
// generated data for 100 teams, as a realistic deployment has: some teams
// restrict networks, list members, cap uploads or constrain them. Requests
// cycle over the teams, each one a grant: mostly reads, every fourth a
// write, callers who are members by token or by the team's members list.
func BenchmarkDecide100Teams(b *testing.B) {
	const n = 100
	bn, err := bundles.LoadFS(policies.FS)
	if err != nil {
		b.Fatal(err)
	}
	teams, inputs := generateTeams(n)
	bn.Data = map[string]any{"signgate": map[string]any{"teams": teams}}
	e := authz.New()
	if err := e.Activate(context.Background(), bn, "generated"); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		in := inputs[i%n]
		i++
		d, err := e.Decide(ctx, in)
		if err != nil || !d.Allow {
			b.Fatalf("team %s: decision %+v, err %v", in.Action.Team, d, err)
		}
	}
}

// benchIssuer is the token issuer of the generated callers.
const benchIssuer = "https://login.example.com/"

// generateTeams makes n teams in the shape of docs/policy.md's data, and
// one granted request per team.
func generateTeams(n int) (map[string]any, []*authz.Input) {
	teams := make(map[string]any, n)
	inputs := make([]*authz.Input, n)
	for i := range n {
		name := fmt.Sprintf("team-%03d", i)
		t := map[string]any{
			"connector":  fmt.Sprintf("conn-%d", i%7),
			"prefix":     name + "/",
			"operations": []any{"read", "write", "delete"},
			"max_ttl":    map[string]any{"read": 3600, "write": 86400, "delete": 3600},
		}
		in := &authz.Input{
			Subject: authz.Subject{ID: fmt.Sprintf("user-%d", i), Principal: fmt.Sprintf("jwt:%s#user-%d", benchIssuer, i),
				Teams: []string{"shared", name}, AuthMethod: "jwt", Claims: map[string]any{}},
			Action: authz.Action{Team: name, Operation: "read", Object: "runs/42/model.pt", ExpiresIn: 900},
			Source: authz.Source{IP: "10.1.2.3", UserAgent: "bench"},
			Time:   "2026-11-27T10:00:00Z",
		}
		if i%5 == 0 { // a network range, the caller inside its second one
			t["cidrs"] = []any{"192.168.0.0/16", fmt.Sprintf("10.%d.0.0/16", i), "172.16.0.0/12"}
			in.Source.IP = fmt.Sprintf("10.%d.7.9", i)
		}
		if i%3 == 0 { // a members list of token principals; the caller is in it, not by token
			members := make([]any, 20)
			for m := range members {
				members[m] = fmt.Sprintf("jwt:%s#member-%d-%d", benchIssuer, i, m)
			}
			t["members"] = members
			in.Subject.ID, in.Subject.Teams = fmt.Sprintf("member-%d-%d", i, 17), []string{"shared"}
			in.Subject.Principal = fmt.Sprintf("jwt:%s#%s", benchIssuer, in.Subject.ID)
		}
		if i%4 == 0 { // uploads: a size cap, and on some teams constraints
			t["max_upload_bytes"] = 68719476736
			in.Action.Operation, in.Action.Size = "write", 1<<30
			if i%8 == 0 {
				t["upload_constraints"] = map[string]any{"max_bytes": 1 << 32, "content_type": "application/"}
				in.Action.ContentType = "application/x-tar"
			}
		}
		if i%10 == 9 {
			t["operations"] = []any{"read"}
			t["max_ttl"] = map[string]any{"read": 900}
		}
		teams[name] = t
		inputs[i] = in
	}
	return teams, inputs
}
