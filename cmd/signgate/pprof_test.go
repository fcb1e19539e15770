package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/signgate/signgate/tests/storage"
)

// TestServeMetricsPprof checks that the admin listener serves Go's
// profiles only when metrics.pprof is on, and /metrics either way.
func TestServeMetricsPprof(t *testing.T) {
	tests := []struct {
		name        string
		givenPprof  bool
		wantProfile int
	}{
		{name: "serves profiles when pprof is on", givenPprof: true, wantProfile: http.StatusOK},
		{name: "serves no profile when pprof is off", givenPprof: false, wantProfile: http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			port, err := storage.FreePort()
			if err != nil {
				t.Fatal(err)
			}
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			stop, err := serveMetrics(addr, tc.givenPprof, newRegistry(), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = stop(context.Background()) })
			get := func(path string) (int, string) {
				t.Helper()
				resp, err := http.Get("http://" + addr + path)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			if status, body := get("/metrics"); status != http.StatusOK || !strings.Contains(body, "go_goroutines") {
				t.Errorf("/metrics: status %d", status)
			}
			for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap?debug=1", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline"} {
				status, body := get(path)
				if status != tc.wantProfile {
					t.Errorf("%s: status %d, want %d", path, status, tc.wantProfile)
				}
				if tc.givenPprof && path == "/debug/pprof/heap?debug=1" && !strings.Contains(body, "heap profile") {
					t.Errorf("%s: not a heap profile: %.100s", path, body)
				}
			}
		})
	}
}
