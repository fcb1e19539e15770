package server_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkSignBatch is one POST /v1/sign/batch of 1000 items through the
// whole handler (JSON in and out, policy, signing, records to an in-memory
// sink), against 1000 sequential POST /v1/sign calls of the same items.
func BenchmarkSignBatch(b *testing.B) {
	for _, tc := range []struct{ name, team string }{{"s3", "vision"}, {"azure", "web"}} {
		items := make([]string, 1000)
		for i := range items {
			items[i] = fmt.Sprintf(`{"team":%q,"operation":"read","object":"runs/%d/model.pt","expires_in":900}`, tc.team, i)
		}
		h := newHarness(b)
		body := `{"items":[` + strings.Join(items, ",") + `]}`
		b.Run("batch of 1000 "+tc.name+" items", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if code := serve(h, "/v1/sign/batch", body); code != 200 {
					b.Fatalf("status %d", code)
				}
				h.records.recs = h.records.recs[:0]
			}
		})
		b.Run("1000 sequential "+tc.name+" signs", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, it := range items {
					if code := serve(h, "/v1/sign", it); code != 200 {
						b.Fatalf("status %d", code)
					}
				}
				h.records.recs = h.records.recs[:0]
			}
		})
	}
}

func serve(h *harness, path, body string) int {
	req := httptest.NewRequest("POST", path, strings.NewReader(body))
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+aliceKey)
	rw := httptest.NewRecorder()
	h.e.ServeHTTP(rw, req)
	return rw.Code
}
