package bundles_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/bundles"
	"github.com/signgate/signgate/bundles/bundletest"
	"github.com/signgate/signgate/tests/eventually"
)

func TestNewServiceRefusesConfigurationsItCannotHonour(t *testing.T) {
	svc := `"services": {"hub": {"url": "http://127.0.0.1:1"}}`
	tests := []struct {
		name        string
		givenConfig string
		wantErr     string
	}{
		{name: "refuses a configuration without bundles", givenConfig: `{` + svc + `}`, wantErr: "no bundles section"},
		{name: "refuses two bundles", givenConfig: `{` + svc + `, "bundles": {"a": {"service": "hub"}, "b": {"service": "hub"}}}`, wantErr: "exactly one bundle"},
		{name: "refuses sections it would ignore", givenConfig: `{` + svc + `, "bundles": {"a": {"service": "hub"}}, "decision_logs": {}}`, wantErr: `"decision_logs" is not used`},
		{name: "refuses an unknown service", givenConfig: `{` + svc + `, "bundles": {"a": {"service": "elsewhere"}}}`, wantErr: "elsewhere"},
		{name: "refuses a manual trigger that nobody would pull", givenConfig: `{` + svc + `, "bundles": {"a": {"service": "hub", "trigger": "manual"}}}`, wantErr: "trigger mode mismatch"},
		{name: "refuses a file:// directory", givenConfig: `{` + svc + `, "bundles": {"a": {"resource": "file:///"}}}`, wantErr: "use policy.source: directory"},
		{name: "refuses a signing block naming an unknown key", givenConfig: `{` + svc + `, "bundles": {"a": {"service": "hub", "signing": {"keyid": "nope"}}}}`, wantErr: "nope"},
		{name: "refuses invalid JSON", givenConfig: `{`, wantErr: "opa config"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bundles.NewService(authz.New(), []byte(tc.givenConfig))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}

// TestServiceRequiresSignaturesWhenOPAKeysAreConfigured: OPA accepts an
// unsigned bundle when keys are configured without a signing block;
// signgate does not.
func TestServiceRequiresSignaturesWhenOPAKeysAreConfigured(t *testing.T) {
	key := bundletest.NewKey(t, "ci")
	srv := bundletest.NewServer(t)
	srv.Serve(bundletest.Tarball(t, bundletest.Policy(60), "unsigned", nil))
	pub, _ := json.Marshal(key.PublicPEM(t))
	cfg := fmt.Sprintf(`{"services": {"hub": {"url": %q}}, "keys": {"ci": {"key": %s, "algorithm": "ES256"}},
		"bundles": {"signgate": {"service": "hub", "resource": %q, "polling": {"min_delay_seconds": 1, "max_delay_seconds": 1}}}}`,
		srv.URL, pub, srv.Path)
	e := authz.New()
	svc, err := bundles.NewService(e, []byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	svc.Start(context.Background())
	defer svc.Stop(context.Background())
	waitForReport(t, e, "the unsigned bundle to be refused", func(r authz.Report) bool {
		return r.LastError != nil && r.LastError.Stage == authz.StageVerify
	})
	srv.Serve(bundletest.Tarball(t, bundletest.Policy(60), "signed", key))
	waitForReport(t, e, "the signed bundle", func(r authz.Report) bool {
		return r.Active.Revision == "signed" && r.Active.SigningKeyID == "ci"
	})
}

func TestServiceStopWithoutStart(t *testing.T) {
	svc, err := bundles.NewService(authz.New(), []byte(`{"services": {"hub": {"url": "http://127.0.0.1:1"}}, "bundles": {"a": {"service": "hub"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	svc.Stop(context.Background()) // must not hang
	svc.Start(context.Background())
}

// TestServiceDoesNotFetchARefusedBundleAgain: the downloader keeps the ETag
// of a bundle that was read but refused at activation, so the bundle
// service answers 304 and the refusal is counted once, however long the
// bundle stays served. (A bundle that cannot be read or verified is fetched
// again, with a backoff.)
func TestServiceDoesNotFetchARefusedBundleAgain(t *testing.T) {
	key := bundletest.NewKey(t, "ci")
	srv := bundletest.NewServer(t)
	srv.Serve(bundletest.Tarball(t, bundletest.Policy(60), "r1", key))
	var ev events
	e := authz.New(authz.WithObserver(ev.observe))
	cfg := fmt.Sprintf(`{"services": {"hub": {"url": %q}},
		"bundles": {"signgate": {"service": "hub", "resource": %q,
			"polling": {"min_delay_seconds": 1, "max_delay_seconds": 1, "long_polling_timeout_seconds": 1}}}}`, srv.URL, srv.Path)
	svc, err := bundles.NewService(e, []byte(cfg), bundles.WithVerification(key.Verification(t, "")))
	if err != nil {
		t.Fatal(err)
	}
	svc.Start(context.Background())
	defer svc.Stop(context.Background())
	waitForReport(t, e, "revision r1", func(r authz.Report) bool { return r.Active.Revision == "r1" })

	lax := bundletest.Files{"authz.rego": "package signgate.authz\n\ndecision := {\"allow\": true, \"connector\": \"c1\", \"key\": \"k\", \"operation\": \"read\", \"ttl_seconds\": 5}\n"}
	srv.Serve(bundletest.Tarball(t, lax, "lax", key))
	waitForReport(t, e, "the refusal", func(r authz.Report) bool {
		return r.LastError != nil && r.LastError.Stage == authz.StageDecision
	})
	refusedAt := e.Report().LastError.At
	// Two more looks at the service, each a long poll that ends in 304.
	eventually.True(t, 15*time.Second, "two checks after the refusal", func() bool {
		return ev.countAfter(authz.EventUnchanged, refusedAt) >= 2
	})
	if r := e.Report(); r.Failures[authz.StageDecision] != 1 || r.Activations != 1 || r.Active.Revision != "r1" {
		t.Fatalf("activations %d, failures %v, active %q; want the refused bundle counted once and r1 active; all events:%s",
			r.Activations, r.Failures, r.Active.Revision, &ev)
	}
}
