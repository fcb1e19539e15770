package server_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/signgate/signgate/server"
	"github.com/signgate/signgate/signer/gcs/iamfake"
)

func TestConnectorReadiness(t *testing.T) {
	get := func(t *testing.T, h *harness, path, key string) response {
		t.Helper()
		r := h.do(t, "GET", path, key, "")
		for _, secret := range []string{"test-secret", "AKIDTEST", azuriteKey, iamfake.Token} {
			if strings.Contains(r.raw, secret) {
				t.Fatalf("%s reveals a secret: %s", path, r.raw)
			}
		}
		return r
	}
	t.Run("reports every connector ready, without credential details on /readyz", func(t *testing.T) {
		h := newHarness(t)
		r := get(t, h, "/readyz", "")
		if r.status != 200 {
			t.Fatalf("readyz: %d %s", r.status, r.raw)
		}
		conns, _ := r.body["connectors"].(map[string]any)
		if len(conns) != 4 {
			t.Fatalf("readyz connectors = %v, want the 4 configured", conns)
		}
		for name, c := range conns {
			st := c.(map[string]any)
			if st["ready"] != true || st["credential"] != nil || st["error"] != nil || st["bucket"] != nil {
				t.Errorf("readyz %s = %v, want ready and nothing about the credential", name, st)
			}
		}
		r = get(t, h, "/v1/connectors", aliceKey)
		var out server.ConnectorsResponse
		if err := json.Unmarshal([]byte(r.raw), &out); err != nil || r.status != 200 {
			t.Fatalf("/v1/connectors: %d %s", r.status, r.raw)
		}
		if st := out.Connectors["vision-s3"]; !st.Ready || st.Credential != "static keys (not checked against the bucket)" || st.Bucket != "acme-vision" {
			t.Errorf("vision-s3 = %+v", st)
		}
		if st := out.Connectors["web-azure"]; !st.Ready || st.Credential != "account key" {
			t.Errorf("web-azure = %+v", st)
		}
	})
	t.Run("reports a keyless connector that cannot sign, and why", func(t *testing.T) {
		srv, withGCS := keylessGCS(t, time.Second, 4)
		srv.SetMode(iamfake.Deny)
		h := newHarness(t, withGCS)
		r := get(t, h, "/readyz", "")
		conns, _ := r.body["connectors"].(map[string]any)
		if r.status != 200 || conns["nlp-gcs"].(map[string]any)["ready"] != false {
			t.Fatalf("readyz without require_signers: %d %s; want 200 showing nlp-gcs not ready", r.status, r.raw)
		}
		r = get(t, h, "/v1/connectors", bobKey)
		var out server.ConnectorsResponse
		if err := json.Unmarshal([]byte(r.raw), &out); err != nil {
			t.Fatal(err)
		}
		if st := out.Connectors["nlp-gcs"]; st.Ready || st.Credential != "IAM signBlob" || !strings.Contains(st.Error, "PERMISSION_DENIED") && !strings.Contains(st.Error, "403") {
			t.Errorf("nlp-gcs = %+v, want not ready with signBlob's refusal", st)
		}
	})
	t.Run("keeps the service unready with require_signers while a connector cannot sign", func(t *testing.T) {
		srv, withGCS := keylessGCS(t, time.Second, 4)
		srv.SetMode(iamfake.Deny)
		o := &options{signers: exampleSigners(t)}
		withGCS(o)
		e := server.New(embeddedEngine(t, o.signers), o.signers, testKeys(t), server.WithRequireSigners(true))
		rw := httptest.NewRecorder()
		e.ServeHTTP(rw, httptest.NewRequest("GET", "/readyz", nil))
		if rw.Code != 503 || !strings.Contains(rw.Body.String(), `"not_ready"`) || !strings.Contains(rw.Body.String(), "nlp-gcs") {
			t.Fatalf("readyz: %d %s; want 503 not_ready naming nlp-gcs", rw.Code, rw.Body)
		}
		if srv.SignBlobs.Load() != 0 {
			t.Errorf("a denied probe counted as a signature")
		}
	})
	t.Run("is ready with require_signers when every connector signs", func(t *testing.T) {
		srv, withGCS := keylessGCS(t, time.Second, 4)
		o := &options{signers: exampleSigners(t)}
		withGCS(o)
		e := server.New(embeddedEngine(t, o.signers), o.signers, testKeys(t), server.WithRequireSigners(true))
		rw := httptest.NewRecorder()
		e.ServeHTTP(rw, httptest.NewRequest("GET", "/readyz", nil))
		if rw.Code != 200 || srv.SignBlobs.Load() != 1 {
			t.Fatalf("readyz: %d %s after %d probes; want 200 after one signBlob probe", rw.Code, rw.Body, srv.SignBlobs.Load())
		}
	})
}
