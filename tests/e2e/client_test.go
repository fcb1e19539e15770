package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

var httpClient = &http.Client{Timeout: 30 * time.Second}

// signRequest is the body of POST /v1/sign.
type signRequest struct {
	Team        string `json:"team"`
	Operation   string `json:"operation"`
	Object      string `json:"object"`
	ExpiresIn   int64  `json:"expires_in,omitempty"`
	ContentType string `json:"content_type,omitempty"`
}

// signed is the 200 answer of POST /v1/sign.
type signed struct {
	URL        string            `json:"url"`
	Method     string            `json:"method"`
	Headers    map[string]string `json:"headers"`
	ExpiresAt  time.Time         `json:"expires_at"`
	DecisionID string            `json:"decision_id"`
	Provider   string            `json:"provider"`
	Bucket     string            `json:"bucket"`
	Key        string            `json:"key"`
}

// problem is an application/problem+json answer.
type problem struct {
	Status     int      `json:"status"`
	Code       string   `json:"code"`
	Detail     string   `json:"detail"`
	Reasons    []string `json:"reasons"`
	DecisionID string   `json:"decision_id"`
}

// signAnswer is everything about one /v1/sign exchange a case may check.
type signAnswer struct {
	status      int
	contentType string
	body        []byte
	fields      map[string]json.RawMessage // top-level keys of the body
	signed      signed                     // when status is 200
	problem     problem                    // otherwise
}

// sign asks signgate, as subject, for a URL.
func sign(t *testing.T, subject string, req signRequest) signAnswer {
	t.Helper()
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(t.Context(), http.MethodPost, suite.signgate+"/v1/sign", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+suite.keys[subject])
	resp, err := httpClient.Do(hr)
	if err != nil {
		t.Fatalf("POST /v1/sign: %v", err)
	}
	defer resp.Body.Close()
	a := signAnswer{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type")}
	if a.body, err = io.ReadAll(resp.Body); err != nil {
		t.Fatalf("POST /v1/sign: read body: %v", err)
	}
	if err := json.Unmarshal(a.body, &a.fields); err != nil {
		t.Fatalf("POST /v1/sign %s: status %d, body is not a JSON object: %s", body, a.status, a.body)
	}
	if a.status == http.StatusOK {
		err = json.Unmarshal(a.body, &a.signed)
	} else {
		err = json.Unmarshal(a.body, &a.problem)
	}
	if err != nil {
		t.Fatalf("POST /v1/sign %s: status %d, body %s: %v", body, a.status, a.body, err)
	}
	noteAnswer(a)
	return a
}

// mustSign is sign for a request the policy allows.
func mustSign(t *testing.T, subject string, req signRequest) signed {
	t.Helper()
	a := sign(t, subject, req)
	if a.status != http.StatusOK {
		t.Fatalf("POST /v1/sign as %s %+v: status %d, want 200; body %s", subject, req, a.status, a.body)
	}
	s := a.signed
	if s.URL == "" || s.Method == "" || s.ExpiresAt.IsZero() || s.DecisionID == "" {
		t.Fatalf("POST /v1/sign as %s %+v: incomplete answer %s", subject, req, a.body)
	}
	return s
}

// wantDenied checks the answer is signgate's own refusal: 403, code denied,
// the given reason, a decision id, and no URL.
func wantDenied(t *testing.T, a signAnswer, reason string) {
	t.Helper()
	if a.status != http.StatusForbidden {
		t.Fatalf("status %d, want 403; body %s", a.status, a.body)
	}
	if !strings.HasPrefix(a.contentType, "application/problem+json") {
		t.Errorf("Content-Type %q, want application/problem+json", a.contentType)
	}
	if a.problem.Code != "denied" {
		t.Errorf("code %q, want denied; body %s", a.problem.Code, a.body)
	}
	if !slices.Contains(a.problem.Reasons, reason) {
		t.Errorf("reasons %q, want %q among them", a.problem.Reasons, reason)
	}
	if a.problem.DecisionID == "" {
		t.Errorf("no decision_id in %s", a.body)
	}
	if _, ok := a.fields["url"]; ok {
		t.Errorf("a denial carries a url: %s", a.body)
	}
	t.Logf("signgate: 403 %s %v decision %s", a.problem.Code, a.problem.Reasons, a.problem.DecisionID)
}

// storageAnswer is what a storage server said to one use of a URL.
type storageAnswer struct {
	status int
	body   []byte
}

func (a storageAnswer) String() string {
	body := string(a.body)
	if len(body) > 300 {
		body = body[:300] + "…"
	}
	return fmt.Sprintf("%d %s", a.status, strings.TrimSpace(body))
}

// use sends one request to a storage server, as a client holding a URL
// would: the method and the headers given, nothing else of signgate's.
func use(t *testing.T, method, rawURL string, headers map[string]string, body []byte) storageAnswer {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	for k, v := range headers {
		if strings.EqualFold(k, "host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, rawURL, err)
	}
	return storageAnswer{status: resp.StatusCode, body: b}
}

// wantRefused checks that the storage server refused a request on grounds
// of authorization. 404 does not count: every case makes sure the object a
// refused request aims at exists, so only the signature can stop it.
func wantRefused(t *testing.T, what string, a storageAnswer) {
	t.Helper()
	if a.status != http.StatusForbidden && a.status != http.StatusUnauthorized {
		t.Errorf("%s: storage answered %s; want 403 or 401", what, a)
		return
	}
	t.Logf("%s: refused by storage: %s", what, a)
}

// wantOK checks that the storage server accepted a request.
func wantOK(t *testing.T, what string, a storageAnswer) {
	t.Helper()
	if a.status/100 != 2 {
		t.Fatalf("%s: storage answered %s; want 2xx", what, a)
	}
}

// getOK is a GET that must answer 200.
func getOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return nil
}

// header returns the value of name in h, ignoring case, as clients do.
func header(h map[string]string, name string) (string, bool) {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}
