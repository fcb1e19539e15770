package bundles_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/bundles"
	"github.com/signgate/signgate/bundles/bundletest"
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
