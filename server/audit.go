package server

import (
	"context"
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/signgate/signgate/bundles"
)

// Record is one decision record, shaped like an OPA decision-log event so
// that OPA log collectors can ingest it. It never holds a URL or a secret.
type Record struct {
	DecisionID      string                    `json:"decision_id"`
	Path            string                    `json:"path"`
	Input           *bundles.Input            `json:"input"`
	Result          *bundles.Decision         `json:"result,omitempty"`
	Bundles         map[string]BundleRevision `json:"bundles"`
	Timestamp       time.Time                 `json:"timestamp"`
	Labels          map[string]string         `json:"labels"`
	RequestID       string                    `json:"request_id"`
	Endpoint        string                    `json:"endpoint"`
	Status          int                       `json:"status"`
	Error           string                    `json:"error,omitempty"`
	Provider        string                    `json:"provider,omitempty"`
	Bucket          string                    `json:"bucket,omitempty"`
	ExpiresAt       *time.Time                `json:"expires_at,omitempty"`
	ExpiryClampedBy string                    `json:"expiry_clamped_by,omitempty"`
}

// BundleRevision is the revision entry of Record.Bundles.
type BundleRevision struct {
	Revision string `json:"revision"`
}

// Auditor stores decision records.
type Auditor interface {
	Record(ctx context.Context, r *Record) error
}

// JSONLines writes one JSON record per line to w.
type JSONLines struct {
	mu  sync.Mutex
	enc *json.Encoder
}

// NewJSONLines returns an Auditor writing to w (stdout or a file).
func NewJSONLines(w io.Writer) *JSONLines {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &JSONLines{enc: enc}
}

// Record writes r as one line.
func (j *JSONLines) Record(_ context.Context, r *Record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.enc.Encode(r)
}

// Discard drops records; for the "none" sink.
type Discard struct{}

// Record does nothing.
func (Discard) Record(context.Context, *Record) error { return nil }
