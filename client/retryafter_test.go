package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestARateLimitedCallWaitsAsRetryAfterSays: a 429 with Retry-After is
// tried again no sooner than signgate asked, even when the client's own
// backoff would have come back at once.
func TestARateLimitedCallWaitsAsRetryAfterSays(t *testing.T) {
	var (
		mu    sync.Mutex
		calls []time.Time
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls = append(calls, time.Now())
		n := len(calls)
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Content-Type", "application/problem+json")
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"status":429,"code":"rate_limited"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"url":"http://127.0.0.1:9/b/k","method":"GET","decision_id":"d-1"}`))
	}))
	defer srv.Close()

	c := New(srv.URL, "k", WithRetry(Retry{Attempts: 3, Base: time.Millisecond, Max: time.Millisecond}))
	if _, err := c.Sign(context.Background(), SignRequest{Team: "vision", Operation: "read", Object: "a"}); err != nil {
		t.Fatalf("Sign after one 429: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 {
		t.Fatalf("%d calls, want 2", len(calls))
	}
	if gap := calls[1].Sub(calls[0]); gap < time.Second {
		t.Errorf("tried again after %v, want at least the 1s of Retry-After", gap)
	}
}

func TestRetryAfterReadsSecondsOnly(t *testing.T) {
	for given, want := range map[string]time.Duration{"": 0, "2": 2 * time.Second, " 3 ": 3 * time.Second, "-1": 0, "Wed, 21 Oct 2015 07:28:00 GMT": 0} {
		if got := retryAfter(given); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", given, got, want)
		}
	}
}
