// Package audit stores signgate's decision records: one per decision, shaped
// like an OPA decision-log event, masked by the Rego mask policy
// (data.system.log.mask) and written to the console or a rotated file (as
// OPA's decision-log plugin would write them, proven by a differential
// test) or delivered by that plugin to an OPA decision-log service, either
// best effort or strictly (no URL without its stored record).
package audit

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/server"
	"github.com/open-policy-agent/opa/v1/server/types"

	"github.com/signgate/signgate/authz"
)

// Path is the decision path of every record: authz.Query as OPA writes a
// path in its decision logs.
const Path = "signgate/authz/decision"

// BundleName names the policy bundle in a record's bundles map.
const BundleName = "signgate"

// Record is what the server knows about one decision. It is cheap to build
// on the request path: it holds what the handler already has, and the
// pipeline turns it into an OPA event off the request path. It never holds
// a URL, a signature or a credential.
type Record struct {
	DecisionID string
	Input      *authz.Input
	// InputAST is Input exactly as the policy evaluated it
	// (authz.Decision.InputAST); when nil, the record builds it from Input.
	InputAST ast.Value
	// Result is the policy's decision; nil when the policy gave none (it
	// failed, or no policy was active).
	Result    *authz.Decision
	Revision  string // the policy revision that decided
	Timestamp time.Time

	RequestID string // the request's X-Request-Id
	Endpoint  string // the route, such as /v1/sign
	Status    int    // the HTTP status the caller got
	Error     string // the problem code of a failed request
	Provider  string // the signing connector's provider and bucket
	Bucket    string
	// ExpiresAt is the expiry signed into the URL; zero when none was issued.
	ExpiresAt time.Time
	// ExpiryClampedBy names what shortened the caller's expires_in: "policy"
	// when the policy granted less than was asked. Empty when nothing did.
	ExpiryClampedBy string

	EvalTime time.Duration // policy evaluation
	SignTime time.Duration // URL signing
}

// issuesURL reports whether r is the record of a URL handed out: best
// effort never drops such a record to make room for another.
func (r *Record) issuesURL() bool { return !r.ExpiresAt.IsZero() }

// info turns r into the decision OPA's decision-log plugin logs. Values are
// built as JSON-like Go values (maps, []any, json.Number), which the plugin
// and the mask rules walk without a JSON round trip. The input is the very
// value the policy evaluated (authz.Input.AST), so the record shows what
// the policy saw, size and form included.
func (r *Record) info() *server.Info {
	info := &server.Info{
		DecisionID: r.DecisionID,
		Path:       Path,
		Bundles:    map[string]server.BundleInfo{BundleName: {Revision: r.Revision}},
		Timestamp:  r.Timestamp,
		Metrics:    recordMetrics(r),
		Custom:     r.custom(),
	}
	if r.Input != nil {
		if v, err := r.inputValue(); err == nil {
			// ast.JSON makes a fresh copy, so masking a record never
			// changes what the request still holds (its principal's claims).
			if in, err := ast.JSON(v); err == nil {
				info.Input, info.InputAST = &in, v
			}
		}
	}
	if r.Result != nil {
		var res any = r.Result.Document()
		info.Results = &res
	}
	if r.Error != "" {
		info.Error = types.NewErrorV1(r.Error, "request failed with %s", r.Error)
	}
	return info
}

// inputValue is the input the policy evaluated: the decision's own value
// when there is one, otherwise built from Input.
func (r *Record) inputValue() (ast.Value, error) {
	if r.InputAST != nil {
		return r.InputAST, nil
	}
	return r.Input.AST()
}

// custom holds what OPA's event has no field for; it is the event's
// "custom" object.
func (r *Record) custom() map[string]any {
	c := map[string]any{
		"request_id": r.RequestID,
		"endpoint":   r.Endpoint,
		"status":     json.Number(strconv.Itoa(r.Status)),
	}
	if r.Error != "" {
		c["error"] = r.Error
	}
	if r.Provider != "" {
		c["provider"], c["bucket"] = r.Provider, r.Bucket
	}
	if !r.ExpiresAt.IsZero() {
		c["expires_at"] = r.ExpiresAt.UTC().Format(time.RFC3339)
	}
	if r.ExpiryClampedBy != "" {
		c["expiry_clamped_by"] = r.ExpiryClampedBy
	}
	return c
}

// timings are the event's metrics, named as OPA names its timers.
type timings struct {
	metrics.Metrics // the plugin only calls All
	all             map[string]any
}

func (t timings) All() map[string]any { return t.all }

func recordMetrics(r *Record) metrics.Metrics {
	return timings{Metrics: metrics.NoOp(), all: recordTimings(r)}
}
