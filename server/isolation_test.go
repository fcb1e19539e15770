package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/bundles"
	"github.com/signgate/signgate/policies"
	"github.com/signgate/signgate/server"
	"github.com/signgate/signgate/server/config"
	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/azblob"
	"github.com/signgate/signgate/signer/gcs"
	"github.com/signgate/signgate/signer/s3"
)

// world is a random deployment: teams on connectors (several per
// provider, some connectors shared by teams under different prefixes)
// and users whose memberships come from their credential or from data.
type world struct {
	teams      map[string]team
	connectors map[string]connector
	users      []user
}

type team struct{ connector, prefix string }

type connector struct{ provider, host, bucket string }

type user struct {
	id, key     string
	credTeams   []string
	memberships map[string]bool // every team the user belongs to, from either source
}

func newWorld(rng *rand.Rand, t *testing.T) (*world, map[string]signer.Signer) {
	t.Helper()
	w := &world{teams: map[string]team{}, connectors: map[string]connector{}}
	signers := map[string]signer.Signer{}
	sa, err := gcs.GenerateServiceAccountJSON("iso@test.iam.gserviceaccount.com")
	if err != nil {
		t.Fatal(err)
	}
	providers := []string{"s3", "gcs", "azure"}
	for i := range 12 {
		name := fmt.Sprintf("conn%d", i)
		p := providers[i%3]
		bucket := fmt.Sprintf("bucket-%d", i)
		var sg signer.Signer
		var host string
		switch p {
		case "s3":
			host = fmt.Sprintf("127.0.0.1:%d", 7000+i)
			sg, err = s3.New(s3.Config{Bucket: bucket, Region: "us-east-1", Endpoint: "http://" + host, Credentials: s3.StaticCredentials("AKID", "secret")})
		case "gcs":
			host = fmt.Sprintf("127.0.0.1:%d", 7000+i)
			sg, err = gcs.New(gcs.Config{Bucket: bucket, Endpoint: "http://" + host, ServiceAccountJSON: sa})
		case "azure":
			host = fmt.Sprintf("127.0.0.1:%d", 7000+i)
			sg, err = azblob.New(azblob.Config{Container: bucket, Endpoint: "http://" + host + "/acct", AccountName: "acct", AccountKey: azuriteKey})
			bucket = "acct/" + bucket // the account is the first path segment
		}
		if err != nil {
			t.Fatal(err)
		}
		w.connectors[name] = connector{provider: p, host: host, bucket: bucket}
		signers[name] = sg
	}
	for i := range 40 {
		name := fmt.Sprintf("team%d", i)
		if i%7 == 0 {
			name = fmt.Sprintf("team%d", i/7) + "x" // names that extend other names
		}
		w.teams[name] = team{connector: fmt.Sprintf("conn%d", rng.IntN(12)), prefix: name + "/"}
	}
	names := teamNames(w)
	for i := range 25 {
		u := user{id: fmt.Sprintf("user%d", i), key: fmt.Sprintf("key-%d", i), memberships: map[string]bool{}}
		for range 1 + rng.IntN(3) {
			tn := names[rng.IntN(len(names))]
			u.credTeams = append(u.credTeams, tn)
			u.memberships[tn] = true
		}
		w.users = append(w.users, u)
	}
	return w, signers
}

func teamNames(w *world) []string {
	var out []string
	for n := range w.teams {
		out = append(out, n)
	}
	// Map order is random; sort for a reproducible world per seed.
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// data is the policy data for w; some members come only from data.
func (w *world) data(rng *rand.Rand) map[string]any {
	teams := map[string]any{}
	for _, n := range teamNames(w) {
		tm := w.teams[n]
		var members []any
		for i := range w.users {
			if rng.IntN(10) == 0 && !w.users[i].memberships[n] {
				members = append(members, w.users[i].id)
				w.users[i].memberships[n] = true
			}
		}
		teams[n] = map[string]any{
			"connector":  tm.connector,
			"prefix":     tm.prefix,
			"operations": []any{"read", "write", "delete"},
			"members":    members,
		}
	}
	return map[string]any{"signgate": map[string]any{"teams": teams}}
}

// trickyObject mixes ordinary keys with attempts to leave the prefix.
func trickyObject(rng *rand.Rand, w *world, names []string) string {
	other := names[rng.IntN(len(names))]
	otherBucket := w.connectors[w.teams[other].connector].bucket
	tricks := []string{
		"runs/42/model.pt",
		"../" + other + "/secret",
		"a/../../" + other + "/x",
		other + "/x",
		"/" + other + "/x",
		"%2e%2e/" + other + "/x",
		"..%2f" + other,
		"%2F..%2F" + other,
		"..\\" + other + "\\x",
		"\u2025/" + other,       // two-dot leader
		"\uff0e\uff0e/" + other, // fullwidth full stops
		other + "\u2215x",       // division slash
		"./" + other,
		"x/./../" + other,
		otherBucket + "/" + other + "/x",
		"?X-Amz-Signature=x&" + other,
		"#" + other,
		"\u202e" + other, // right-to-left override
		strings.Repeat("a/", 100) + other,
	}
	return tricks[rng.IntN(len(tricks))]
}

// TestTeamIsolationProperty sends thousands of random sign requests and
// checks every issued URL against the connector and prefix of a team the
// caller belongs to.
func TestTeamIsolationProperty(t *testing.T) {
	const requests = 10000
	rng := rand.New(rand.NewPCG(20261127, 4))
	w, signers := newWorld(rng, t)
	names := teamNames(w)

	b, err := bundles.LoadFS(policies.FS)
	if err != nil {
		t.Fatal(err)
	}
	b.Data = w.data(rng)
	engine := authz.New()
	if err := engine.Activate(context.Background(), b, "isolation"); err != nil {
		t.Fatal(err)
	}
	var keys []config.APIKey
	for _, u := range w.users {
		s := sha256.Sum256([]byte(u.key))
		keys = append(keys, config.APIKey{SHA256: hex.EncodeToString(s[:]), Subject: u.id, Teams: u.credTeams})
	}
	auth, err := server.NewAPIKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{e: server.New(engine, signers, auth, server.WithClock(clock))}

	var issued, denied, rejected, violations int
	ops := []string{"read", "write", "delete"}
	for i := range requests {
		u := w.users[rng.IntN(len(w.users))]
		tn := names[rng.IntN(len(names))]
		if rng.IntN(2) == 0 && len(u.credTeams) > 0 {
			tn = u.credTeams[rng.IntN(len(u.credTeams))]
		}
		obj := trickyObject(rng, w, names)
		body := fmt.Sprintf(`{"team":%q,"operation":%q,"object":%q}`, tn, ops[rng.IntN(3)], obj)
		r := h.do(t, "POST", "/v1/sign", u.key, body)
		switch r.status {
		case 200:
			issued++
			if err := w.check(u, tn, obj, r); err != nil {
				violations++
				if violations <= 5 {
					t.Errorf("request %d (%s as %s): %v", i, body, u.id, err)
				}
			}
		case 403:
			denied++
			if u.memberships[tn] {
				t.Errorf("request %d: member %s of %s denied: %s", i, u.id, tn, r.raw)
			}
			if strings.Contains(r.raw, "http") {
				violations++
			}
		case 400, 422: // invalid key, or one the provider cannot sign faithfully
			rejected++
			if _, ok := r.body["url"]; ok {
				violations++
			}
		default:
			t.Fatalf("request %d: unexpected %d: %s", i, r.status, r.raw)
		}
	}
	t.Logf("team isolation: %d requests tried, %d URLs issued, %d denied, %d rejected as invalid, %d violations",
		requests, issued, denied, rejected, violations)
	if violations != 0 {
		t.Fatalf("%d isolation violations", violations)
	}
	if issued < requests/10 || denied < requests/10 {
		t.Fatalf("the generator is too one-sided to prove anything: %d issued, %d denied", issued, denied)
	}
}

// check asserts that a URL issued to u for team tn stays on tn's connector,
// under tn's prefix, and that u belongs to tn.
func (w *world) check(u user, tn, obj string, r response) error {
	if !u.memberships[tn] {
		return fmt.Errorf("URL issued for team %s to non-member %s", tn, u.id)
	}
	tm := w.teams[tn]
	cn := w.connectors[tm.connector]
	raw, _ := r.body["url"].(string)
	pu, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("unparseable URL %q: %v", raw, err)
	}
	if pu.Host != cn.host {
		return fmt.Errorf("host %s, want %s", pu.Host, cn.host)
	}
	wantPath := "/" + cn.bucket + "/" + tm.prefix
	if !strings.HasPrefix(pu.Path, wantPath) {
		return fmt.Errorf("path %q is not under %q", pu.Path, wantPath)
	}
	key := strings.TrimPrefix(pu.Path, "/"+cn.bucket+"/")
	if key != tm.prefix+obj {
		return fmt.Errorf("key %q, want %q", key, tm.prefix+obj)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("key %q has a dot segment", key)
		}
	}
	if r.body["bucket"] != strings.TrimPrefix(cn.bucket, "acct/") || r.body["key"] != key {
		return fmt.Errorf("response names bucket %v key %v", r.body["bucket"], r.body["key"])
	}
	if len(pu.Query()) == 0 || strings.Contains(pu.RawQuery, obj) && strings.ContainsAny(obj, "?#") {
		return fmt.Errorf("object leaked into the query: %q", pu.RawQuery)
	}
	return nil
}
