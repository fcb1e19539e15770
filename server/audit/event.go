package audit

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/plugins/logs"
	"github.com/open-policy-agent/opa/v1/server/types"

	"github.com/signgate/signgate/internal/jsonenc"
)

// recordEvent is a record as OPA's decision-log event (logs.EventV1) has
// it, for the console and file sinks: what Record.info and OPA's plugin
// put in an EventV1, with the input left as the ast.Value the policy saw.
type recordEvent struct {
	rec      *Record
	labels   map[string]string
	inputAST ast.Value // what the drop and mask policies see as input.input; nil: none
	input    maskable  // what is written: inputAST, a plain value, or its ast.JSON copy
	result   maskable
	erased   []string
	masked   []string
	err      *types.ErrorV1
	metrics  map[string]any // built when a policy needs them
	custom   map[string]any
}

// maps builds the metrics and custom maps that the policies see.
func (e *recordEvent) maps() {
	if e.custom == nil {
		e.metrics, e.custom = recordTimings(e.rec), e.rec.custom()
	}
}

// newRecordEvent is Record.info followed by the first half of OPA's
// plugin Log: the event before the drop and mask policies.
func newRecordEvent(r *Record, labels map[string]string) *recordEvent {
	e := &recordEvent{rec: r, labels: labels}
	if r.Input != nil {
		if v, err := r.inputValue(); err == nil {
			if plainJSON(v) {
				e.inputAST, e.input = v, maskable{set: true, v: v}
			} else if in, err := ast.JSON(v); err == nil {
				e.inputAST, e.input = v, maskable{set: true, v: in}
			}
		}
	}
	if r.Result != nil {
		e.result = maskable{set: true, v: r.Result.Document()}
	}
	if r.Error != "" {
		e.err = types.NewErrorV1(r.Error, "request failed with %s", r.Error)
	}
	return e
}

// policyInput is the event as the drop and mask policies see it, as OPA's
// EventV1.AST builds it; the input is the policy's ast.Value itself.
func (e *recordEvent) policyInput() (ast.Value, error) {
	e.maps()
	ev := logs.EventV1{
		Labels:     e.labels,
		DecisionID: e.rec.DecisionID,
		Bundles:    map[string]logs.BundleInfoV1{BundleName: {Revision: e.rec.Revision}},
		Path:       Path,
		Timestamp:  e.rec.Timestamp,
		Metrics:    e.metrics,
		Custom:     e.custom,
	}
	if e.result.set {
		res := e.result.v
		ev.Result = &res
	}
	if e.err != nil {
		ev.Error = e.err
	}
	v, err := ev.AST()
	if err != nil {
		return nil, err
	}
	if e.inputAST != nil {
		obj, ok := v.(ast.Object)
		if !ok {
			return nil, errors.New("audit: the event is not an object")
		}
		obj.Insert(ast.InternedTerm("input"), ast.NewTerm(e.inputAST))
	}
	return v, nil
}

// appendEvent writes e as one JSON line, as encoding/json's Encoder with
// SetEscapeHTML(false) writes the logs.EventV1 that OPA's plugin hands its
// sink: the same fields in the same order, omitempty included. w is the
// writer to use; its b is the line's start.
func appendEvent(w *jsonWriter, e *recordEvent) {
	r := e.rec
	w.b = append(w.b, `{"labels":`...)
	if e.labels == nil {
		w.b = append(w.b, "null"...)
	} else {
		w.value(e.labels)
	}
	w.b = append(w.b, `,"decision_id":`...)
	w.b = jsonenc.AppendString(w.b, r.DecisionID)
	w.b = append(w.b, `,"bundles":{`...)
	w.b = jsonenc.AppendString(w.b, BundleName)
	w.b = append(w.b, ":{"...)
	if r.Revision != "" {
		w.b = append(w.b, `"revision":`...)
		w.b = jsonenc.AppendString(w.b, r.Revision)
	}
	w.b = append(w.b, `}},"path":`...)
	w.b = jsonenc.AppendString(w.b, Path)
	if e.input.set {
		w.b = append(w.b, `,"input":`...)
		w.value(e.input.v)
	}
	if e.result.set {
		w.b = append(w.b, `,"result":`...)
		w.value(e.result.v)
	}
	w.b = appendStrings(w.b, `,"erased":`, e.erased)
	w.b = appendStrings(w.b, `,"masked":`, e.masked)
	if e.err != nil {
		if len(e.err.Errors) > 0 {
			w.b = append(w.b, `,"error":`...)
			w.value(e.err) // through encoding/json
		} else {
			w.b = append(w.b, `,"error":{"code":`...)
			w.b = jsonenc.AppendString(w.b, e.err.Code)
			w.b = append(w.b, `,"message":`...)
			w.b = jsonenc.AppendString(w.b, e.err.Message)
			w.b = append(w.b, '}')
		}
	}
	if w.err != nil {
		return
	}
	w.b = append(w.b, `,"timestamp":"`...)
	if w.b, w.err = r.Timestamp.AppendText(w.b); w.err != nil {
		return
	}
	w.b = append(w.b, '"')
	w.b = appendTimings(w.b, r)
	w.b = appendCustom(w.b, r)
	w.b = append(w.b, "}\n"...)
}

// appendTimings writes recordTimings(r) as the event's metrics.
func appendTimings(b []byte, r *Record) []byte {
	if r.EvalTime <= 0 && r.SignTime <= 0 {
		return b // an empty map: omitted
	}
	b = append(b, `,"metrics":{`...)
	if r.EvalTime > 0 {
		b = append(b, `"timer_rego_query_eval_ns":`...)
		b = strconv.AppendInt(b, r.EvalTime.Nanoseconds(), 10)
	}
	if r.SignTime > 0 {
		if r.EvalTime > 0 {
			b = append(b, ',')
		}
		b = append(b, `"timer_signgate_sign_ns":`...)
		b = strconv.AppendInt(b, r.SignTime.Nanoseconds(), 10)
	}
	return append(b, '}')
}

// appendCustom writes r.custom() as the event's custom object, its keys
// in encoding/json's order.
func appendCustom(b []byte, r *Record) []byte {
	b = append(b, `,"custom":{`...)
	if r.Provider != "" {
		b = append(b, `"bucket":`...)
		b = jsonenc.AppendString(b, r.Bucket)
		b = append(b, ',')
	}
	b = append(b, `"endpoint":`...)
	b = jsonenc.AppendString(b, r.Endpoint)
	if r.Error != "" {
		b = append(b, `,"error":`...)
		b = jsonenc.AppendString(b, r.Error)
	}
	if !r.ExpiresAt.IsZero() {
		b = append(b, `,"expires_at":`...)
		b = jsonenc.AppendString(b, r.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if r.ExpiryClampedBy != "" {
		b = append(b, `,"expiry_clamped_by":`...)
		b = jsonenc.AppendString(b, r.ExpiryClampedBy)
	}
	if r.Provider != "" {
		b = append(b, `,"provider":`...)
		b = jsonenc.AppendString(b, r.Provider)
	}
	b = append(b, `,"request_id":`...)
	b = jsonenc.AppendString(b, r.RequestID)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	return append(b, '}')
}

func appendStrings(b []byte, name string, s []string) []byte {
	if len(s) == 0 {
		return b
	}
	b = append(b, name...)
	b = append(b, '[')
	for i, x := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendString(b, x)
	}
	return append(b, ']')
}

// recordTimings are the event's metrics, named as OPA names its timers.
func recordTimings(r *Record) map[string]any {
	all := map[string]any{}
	if r.EvalTime > 0 {
		all["timer_rego_query_eval_ns"] = json.Number(strconv.FormatInt(r.EvalTime.Nanoseconds(), 10))
	}
	if r.SignTime > 0 {
		all["timer_signgate_sign_ns"] = json.Number(strconv.FormatInt(r.SignTime.Nanoseconds(), 10))
	}
	return all
}

// timestampText is the event's timestamp as the policies see it.
func timestampText(t time.Time) (string, error) {
	b, err := t.AppendText(nil)
	return string(b), err
}
