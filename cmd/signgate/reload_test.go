package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signgate/signgate/bundles/bundletest"
	"github.com/signgate/signgate/server/config"
)

// TestSIGHUPReloadsWithoutDroppingARequestOrARecord runs `serve` with a
// strict file sink, keeps /v1/sign busy, and meanwhile swaps the API keys in
// the configuration file, moves the audit file aside as logrotate does and
// sends SIGHUP. Every request succeeds, every answered decision has exactly
// one record across the two files, the removed key gets 401 and the new one
// works; then an invalid file is refused and the keys in force stay.
func TestSIGHUPReloadsWithoutDroppingARequestOrARecord(t *testing.T) {
	dir := t.TempDir()
	auditFile := filepath.Join(dir, "audit.jsonl")
	cfgFile := filepath.Join(dir, "signgate.yaml")
	const keep, removed, added = "key-kept", "key-removed", "key-added"
	others := otherExampleConnectors(t)
	writeConfig := func(extra string, keys ...string) {
		t.Helper()
		var b strings.Builder
		b.WriteString("listen: 127.0.0.1:0\nauth:\n  api_keys:\n")
		for _, k := range keys {
			sum := sha256.Sum256([]byte(k))
			fmt.Fprintf(&b, "  - {sha256: %s, subject: %s, teams: [vision]}\n", hex.EncodeToString(sum[:]), k)
		}
		fmt.Fprintf(&b, `connectors:
  vision-s3: {provider: s3, bucket: acme-vision, region: us-east-1, endpoint: "http://127.0.0.1:9",
              credentials: {access_key_id_env: SERVE_TEST_AK, secret_access_key_env: SERVE_TEST_SK}}
%s
audit: {mode: strict, sink: file, path: %q}
%s`, others, auditFile, extra)
		if err := os.WriteFile(cfgFile, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig("", keep, removed)
	t.Setenv("SERVE_TEST_AK", "AKIDSERVETEST")
	t.Setenv("SERVE_TEST_SK", "serve-test-secret")

	srv := startServe(t, "--config", cfgFile)
	c := &client{t: t, base: "http://" + srv.addr, http: &http.Client{Timeout: 10 * time.Second}}
	defer c.http.CloseIdleConnections()
	var answered decisionSet
	answered.add(t, c.sign(removed, 200))
	c.sign(added, 401)

	// Load: a few callers with the kept key until well after the reload.
	var (
		wg       sync.WaitGroup
		done     atomic.Int64
		failures atomic.Int64
		stop     atomic.Bool
	)
	const callers, maxPerCaller = 4, 2000
	for range callers {
		wg.Go(func() {
			for i := 0; i < maxPerCaller && !stop.Load(); i++ {
				status, id, err := c.try(keep)
				if err != nil || status != 200 || id == "" {
					failures.Add(1)
					t.Errorf("under reload: status %d, decision %q, err %v", status, id, err)
					continue
				}
				answered.add(t, id)
				done.Add(1)
			}
		})
	}
	waitFor(t, "requests before the reload", func() bool { return done.Load() >= 100 })

	writeConfig("server: {body_limit_bytes: 2048}\n", keep, added) // removed is gone; a restart-only change
	if err := os.Rename(auditFile, auditFile+".1"); err != nil {
		t.Fatal(err)
	}
	mark := srv.logs.mark()
	sighup(t)
	got := srv.logs.waitMsg(t, mark, "configuration reloaded", "configuration reload refused; the running configuration stays", "configuration reloaded in part")
	if got["msg"] != "configuration reloaded" {
		t.Fatalf("reload: %v", got)
	}
	if w := srv.logs.find(mark, "configuration changes need a restart; their running values stay"); w == nil ||
		fmt.Sprint(w["fields"]) != "[server.body_limit_bytes]" {
		t.Errorf("the restart warning: %v, want fields [server.body_limit_bytes]", w)
	}
	atReload := done.Load()
	waitFor(t, "requests after the reload", func() bool { return done.Load() >= atReload+100 })
	stop.Store(true)
	wg.Wait()
	if f := failures.Load(); f != 0 {
		t.Fatalf("%d of %d requests failed across the reload", f, done.Load()+f)
	}

	c.sign(removed, 401)
	newKeyDecision := c.sign(added, 200)
	answered.add(t, newKeyDecision)

	// An invalid file is refused, with the field's path, and changes nothing.
	writeConfig("", keep, added)
	if err := os.WriteFile(cfgFile, []byte(strings.Replace(mustRead(t, cfgFile), "sha256: ", "sha256: x", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	mark = srv.logs.mark()
	sighup(t)
	got = srv.logs.waitMsg(t, mark, "configuration reloaded", "configuration reload refused; the running configuration stays", "configuration reloaded in part")
	if got["msg"] != "configuration reload refused; the running configuration stays" || !strings.Contains(fmt.Sprint(got["err"]), "auth.api_keys[0].sha256") {
		t.Errorf("an invalid configuration: %v, want a refusal naming auth.api_keys[0].sha256", got)
	}
	answered.add(t, c.sign(added, 200))
	answered.add(t, c.sign(keep, 200))
	c.sign(removed, 401)

	resp, err := c.http.Get(c.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scrape, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`signgate_config_reloads_total{result="applied"} 1`,
		`signgate_config_reloads_total{result="refused"} 1`,
		`signgate_config_reloads_total{result="partial"} 0`,
		"signgate_config_last_reload_successful 0",
		"signgate_config_restart_pending 1",
	} {
		if !strings.Contains(string(scrape), want+"\n") {
			t.Errorf("the scrape lacks %s", want)
		}
	}

	c.http.CloseIdleConnections()
	srv.shutdown(t)

	// Exactly one record per answered decision, across both files; the
	// records after the reload are in the new file.
	old, cur := auditIDs(t, auditFile+".1"), auditIDs(t, auditFile)
	if len(old) == 0 || len(cur) == 0 {
		t.Fatalf("%d records in the moved file and %d in the new one; want both non-empty", len(old), len(cur))
	}
	seen := map[string]int{}
	for _, id := range append(old, cur...) {
		seen[id]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("decision %s has %d records", id, n)
		}
		if !answered.has(id) {
			t.Errorf("decision %s has a record but no answer", id)
		}
	}
	for id := range answered.ids {
		if seen[id] == 0 {
			t.Errorf("decision %s was answered but has no record", id)
		}
	}
	if !slices.Contains(cur, newKeyDecision) {
		t.Errorf("the new key's decision is not in the reopened file")
	}
	t.Logf("%d decisions answered, %d records before the reopen and %d after", len(answered.ids), len(old), len(cur))
}

func TestRestartFields(t *testing.T) {
	base := func() *config.Config {
		c, err := config.Parse([]byte(`
auth: {api_keys: [{sha256: "` + strings.Repeat("a", 64) + `", subject: alice}]}
connectors:
  vision-s3: {provider: s3, bucket: acme-vision, region: us-east-1}
`))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name   string
		change func(*config.Config)
		want   []string
	}{
		{name: "auth changes apply live", change: func(c *config.Config) { c.Auth.APIKeys[0].Subject = "bob" }},
		{name: "a new listen address needs a restart", change: func(c *config.Config) { c.Listen = "127.0.0.1:9" },
			want: []string{"listen"}},
		{name: "a duration is one field", change: func(c *config.Config) { c.Server.ShutdownTimeout.Duration = time.Second },
			want: []string{"server.shutdown_timeout"}},
		{name: "transport limits and the rate limit need a restart", change: func(c *config.Config) {
			c.Server.ReadHeaderTimeout.Duration, c.Server.RateLimit.Rate = time.Second, 5
		}, want: []string{"server.read_header_timeout", "server.rate_limit.rate"}},
		{name: "a connector's bucket is named by its connector", change: func(c *config.Config) {
			cn := c.Connectors["vision-s3"]
			cn.Bucket = "other"
			c.Connectors["vision-s3"] = cn
		}, want: []string{"connectors.vision-s3.bucket"}},
		{name: "a new connector", change: func(c *config.Config) { c.Connectors["new"] = config.Connector{Provider: "s3"} },
			want: []string{"connectors.new"}},
		{name: "the audit sink and the metrics listener", change: func(c *config.Config) {
			c.Audit.Sink, c.Metrics.Listen = "none", "127.0.0.1:9100"
		}, want: []string{"audit.sink", "metrics.listen"}},
		{name: "network is read by netpolicy, not serve", change: func(c *config.Config) { c.Network.GCPAccessPolicy = "1" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := base()
			tt.change(next)
			if got := restartFields(base(), next); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSIGHUPReloadsThePolicyDirectory watches a directory with a debounce
// too long to matter, so that only the SIGHUP can load its new revision.
func TestSIGHUPReloadsThePolicyDirectory(t *testing.T) {
	dir := t.TempDir()
	policyDir := filepath.Join(dir, "policy")
	if err := os.Mkdir(policyDir, 0o700); err != nil {
		t.Fatal(err)
	}
	bundletest.WriteDir(t, policyDir, bundletest.Policy(60), "r1", nil)
	const key = "policy-reload-key"
	sum := sha256.Sum256([]byte(key))
	cfgFile := filepath.Join(dir, "signgate.yaml")
	cfg := fmt.Sprintf(`
listen: 127.0.0.1:0
policy: {source: directory, directory: %q, watch_debounce: 1h}
auth:
  api_keys: [{sha256: %q, subject: ops, teams: [vision]}]
connectors:
  c1: {provider: s3, bucket: acme-c1, region: us-east-1, endpoint: "http://127.0.0.1:7070",
       credentials: {access_key_id_env: SERVE_TEST_AK, secret_access_key_env: SERVE_TEST_SK}}
audit: {sink: none}
`, policyDir, hex.EncodeToString(sum[:]))
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SERVE_TEST_AK", "AKIDSERVETEST")
	t.Setenv("SERVE_TEST_SK", "serve-test-secret")
	srv := startServe(t, "--config", cfgFile)
	revision := func() any {
		req, _ := http.NewRequest("GET", "http://"+srv.addr+"/v1/policy", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&p)
		return p["revision"]
	}
	if got := revision(); got != "r1" {
		t.Fatalf("revision %v, want r1", got)
	}
	bundletest.WriteDir(t, policyDir, bundletest.Policy(120), "r2", nil)
	mark := srv.logs.mark()
	sighup(t)
	got := srv.logs.waitMsg(t, mark, "configuration reloaded", "configuration reloaded in part")
	if fmt.Sprint(got["applied"]) != "[auth policy directory log level]" {
		t.Errorf("reload: %v, want auth and the policy directory applied", got)
	}
	if got := revision(); got != "r2" {
		t.Errorf("revision %v after SIGHUP, want r2", got)
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestSIGHUPInDevModeReloadsNothing(t *testing.T) {
	srv := startServe(t, "--dev", "--listen", "127.0.0.1:0")
	mark := srv.logs.mark()
	sighup(t)
	srv.logs.waitMsg(t, mark, "SIGHUP: --dev mode has no configuration file; nothing reloaded")
	resp, err := http.Get("http://" + srv.addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz %d after SIGHUP in dev mode", resp.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestSIGHUPAppliesTheLogLevel(t *testing.T) {
	dir := t.TempDir()
	const key = "log-level-reload-key"
	sum := sha256.Sum256([]byte(key))
	cfgFile := filepath.Join(dir, "signgate.yaml")
	others := otherExampleConnectors(t)
	write := func(level string) {
		cfg := fmt.Sprintf(`
listen: 127.0.0.1:0
log: {level: %s}
auth:
  api_keys: [{sha256: %q, subject: ops, teams: [vision]}]
connectors:
  vision-s3: {provider: s3, bucket: acme-vision, region: us-east-1, endpoint: "http://127.0.0.1:9",
              credentials: {access_key_id_env: SERVE_TEST_AK, secret_access_key_env: SERVE_TEST_SK}}
%s
audit: {sink: none}
`, level, hex.EncodeToString(sum[:]), others)
		if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("info")
	t.Setenv("SERVE_TEST_AK", "AKIDSERVETEST")
	t.Setenv("SERVE_TEST_SK", "serve-test-secret")
	srv := startServe(t, "--config", cfgFile)
	refused := func() {
		req, _ := http.NewRequest("GET", "http://"+srv.addr+"/v1/policy", nil)
		req.Header.Set("Authorization", "Bearer not-a-known-key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("unknown key: status %d, want 401", resp.StatusCode)
		}
	}

	mark := srv.logs.mark()
	refused()
	write("debug")
	sighup(t)
	got := srv.logs.waitMsg(t, mark, "log level changed")
	if got["level"] != "debug" {
		t.Errorf("log level changed to %v, want debug", got["level"])
	}
	if srv.logs.find(mark, "credential refused") != nil {
		t.Error("a debug line was written at level info, before the reload")
	}
	mark = srv.logs.mark()
	refused()
	srv.logs.waitMsg(t, mark, "credential refused")
	http.DefaultClient.CloseIdleConnections()
}
