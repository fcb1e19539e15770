// Package client is the Go client of a signgate server: it asks for
// decisions and signed URLs, and moves objects straight between a program
// and the bucket through them (Upload, Download), in parallel parts, with
// retries and resume. It depends on the HTTP API only, never on the
// server's packages.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Client talks to one signgate server with one API key (or bearer token).
// It is safe for concurrent use.
type Client struct {
	base    string
	key     string
	api     *http.Client // to signgate
	storage *http.Client // to the storage servers, with the signed URLs
	retry   Retry
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client for both signgate and storage.
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) { c.api, c.storage = h, h }
}

// WithStorageTransport sets the transport of storage requests only: a
// proxy, a custom TLS config, or a fault injector in tests.
func WithStorageTransport(rt http.RoundTripper) Option {
	return func(c *Client) { c.storage = &http.Client{Transport: rt} }
}

// WithRetry sets how storage requests are retried.
func WithRetry(r Retry) Option { return func(c *Client) { c.retry = r } }

// New returns a client of the signgate server at baseURL (for example
// "https://signgate.example.com"), authenticating with key.
func New(baseURL, key string, opts ...Option) *Client {
	c := &Client{
		base:    strings.TrimRight(baseURL, "/"),
		key:     key,
		api:     &http.Client{Timeout: 2 * time.Minute},
		storage: &http.Client{},
		retry:   DefaultRetry,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// SignRequest is the body of /v1/sign and /v1/decide.
type SignRequest struct {
	Team        string `json:"team"`
	Operation   string `json:"operation"` // read, write or delete
	Object      string `json:"object"`
	ExpiresIn   int64  `json:"expires_in,omitempty"` // seconds; 0: the policy's TTL
	ContentType string `json:"content_type,omitempty"`
	Form        bool   `json:"form,omitempty"` // a browser form POST instead of a PUT URL
}

// Signed is a signed request: send Method to URL with Headers (or, for a
// form, POST Fields and then the file to URL).
type Signed struct {
	URL                   string            `json:"url"`
	Method                string            `json:"method"`
	Headers               map[string]string `json:"headers"`
	Fields                map[string]string `json:"fields,omitempty"`
	ExpiresAt             time.Time         `json:"expires_at"`
	ExpiryClampedBy       string            `json:"expiry_clamped_by,omitempty"`
	UnenforcedConstraints []string          `json:"unenforced_constraints,omitempty"`
	DecisionID            string            `json:"decision_id"`
	Provider              string            `json:"provider"`
	Bucket                string            `json:"bucket"`
	Key                   string            `json:"key"`
}

// Decision is the answer of /v1/decide.
type Decision struct {
	DecisionID  string         `json:"decision_id"`
	Allow       bool           `json:"allow"`
	Reasons     []string       `json:"reasons"`
	Connector   string         `json:"connector,omitempty"`
	Provider    string         `json:"provider,omitempty"`
	Bucket      string         `json:"bucket,omitempty"`
	Key         string         `json:"key,omitempty"`
	Operation   string         `json:"operation,omitempty"`
	TTLSeconds  int64          `json:"ttl_seconds,omitempty"`
	Constraints map[string]any `json:"constraints,omitempty"`
	Revision    string         `json:"revision"`
}

// BatchResult is one item of SignBatch: Signed, or the item's Err.
type BatchResult struct {
	Signed *Signed
	Err    *Error
}

// Sign asks for one signed URL.
func (c *Client) Sign(ctx context.Context, req SignRequest) (*Signed, error) {
	var s Signed
	if err := c.post(ctx, "/v1/sign", req, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Decide asks the policy without signing anything.
func (c *Client) Decide(ctx context.Context, req SignRequest) (*Decision, error) {
	var d Decision
	if err := c.post(ctx, "/v1/decide", req, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// SignBatch signs up to 1000 items in one request; each item succeeds or
// fails on its own, in order.
func (c *Client) SignBatch(ctx context.Context, items []SignRequest) ([]BatchResult, error) {
	var resp struct {
		Results []struct {
			Status int `json:"status"`
			Signed
			Problem *Error `json:"problem"`
		} `json:"results"`
	}
	if err := c.post(ctx, "/v1/sign/batch", map[string]any{"items": items}, &resp); err != nil {
		return nil, err
	}
	if len(resp.Results) != len(items) {
		return nil, fmt.Errorf("signgate: batch answered %d results for %d items", len(resp.Results), len(items))
	}
	out := make([]BatchResult, len(items))
	for i, r := range resp.Results {
		if r.Status == http.StatusOK {
			s := r.Signed
			out[i].Signed = &s
			continue
		}
		p := r.Problem
		if p == nil {
			p = &Error{Status: r.Status, Code: "unknown"}
		}
		out[i].Err = p
	}
	return out, nil
}

// post sends body as JSON to path and decodes a 200 answer into out, or
// returns the problem as an *Error. A temporary refusal (429, 503 not
// ready...) or a network error is tried again, with the storage retries'
// backoff.
func (c *Client) post(ctx context.Context, path string, body, out any) error {
	return c.retry.do(ctx, func() error { return c.postOnce(ctx, path, body, out) })
}

func (c *Client) postOnce(ctx context.Context, path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, application/problem+json")
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.api.Do(req)
	if err != nil {
		return fmt.Errorf("signgate: POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("signgate: POST %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		e := problemError(resp.StatusCode, raw)
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"))
		return e
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("signgate: POST %s: decode answer: %w", path, err)
	}
	return nil
}

func problemError(status int, raw []byte) *Error {
	e := &Error{}
	if json.Unmarshal(raw, e) != nil || e.Code == "" {
		e = &Error{Code: "http_error", Detail: strings.TrimSpace(string(truncate(raw, 200)))}
	}
	e.Status = status
	return e
}

// retryAfter reads a Retry-After header in seconds, as signgate writes it;
// anything else (absent, a date, negative) names no time.
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
