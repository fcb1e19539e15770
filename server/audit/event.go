package audit

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/plugins/logs"
	"github.com/open-policy-agent/opa/v1/server/types"
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
	metrics  map[string]any
	custom   map[string]any
}

// newRecordEvent is Record.info followed by the first half of OPA's
// plugin Log: the event before the drop and mask policies.
func newRecordEvent(r *Record, labels map[string]string) *recordEvent {
	e := &recordEvent{rec: r, labels: labels, metrics: recordTimings(r), custom: r.custom()}
	if r.Input != nil {
		if v, err := r.Input.AST(); err == nil {
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
// sink: the same fields in the same order, omitempty included.
func appendEvent(b []byte, e *recordEvent) ([]byte, error) {
	var err error
	r := e.rec
	b = append(b, `{"labels":`...)
	if b, err = appendValue(b, e.labels); err != nil {
		return b, err
	}
	if e.labels == nil {
		b = append(b[:len(b)-len("{}")], "null"...)
	}
	b = append(b, `,"decision_id":`...)
	b = appendString(b, r.DecisionID)
	b = append(b, `,"bundles":{`...)
	b = appendString(b, BundleName)
	b = append(b, ":{"...)
	if r.Revision != "" {
		b = append(b, `"revision":`...)
		b = appendString(b, r.Revision)
	}
	b = append(b, `}},"path":`...)
	b = appendString(b, Path)
	if e.input.set {
		b = append(b, `,"input":`...)
		if b, err = appendValue(b, e.input.v); err != nil {
			return b, err
		}
	}
	if e.result.set {
		b = append(b, `,"result":`...)
		if b, err = appendValue(b, e.result.v); err != nil {
			return b, err
		}
	}
	b = appendStrings(b, `,"erased":`, e.erased)
	b = appendStrings(b, `,"masked":`, e.masked)
	if e.err != nil {
		if len(e.err.Errors) > 0 {
			b = append(b, `,"error":`...)
			if b, err = appendReflect(b, e.err); err != nil {
				return b, err
			}
		} else {
			b = append(b, `,"error":{"code":`...)
			b = appendString(b, e.err.Code)
			b = append(b, `,"message":`...)
			b = appendString(b, e.err.Message)
			b = append(b, '}')
		}
	}
	b = append(b, `,"timestamp":"`...)
	if b, err = r.Timestamp.AppendText(b); err != nil {
		return b, err
	}
	b = append(b, '"')
	if len(e.metrics) > 0 {
		b = append(b, `,"metrics":`...)
		if b, err = appendMap(b, e.metrics); err != nil {
			return b, err
		}
	}
	if len(e.custom) > 0 {
		b = append(b, `,"custom":`...)
		if b, err = appendMap(b, e.custom); err != nil {
			return b, err
		}
	}
	return append(b, "}\n"...), nil
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
		b = appendString(b, x)
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
