package audit

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/server/config"
)

// TestRecordInputIsWhatThePolicySaw writes the record of a form upload
// and of a chunked upload: their input must hold every field the policy's
// input held, size and form included, and nothing else.
func TestRecordInputIsWhatThePolicySaw(t *testing.T) {
	form := record("d-form")
	form.Input.Action.Form, form.Input.Action.ContentType = true, "image/png"
	upload := record("d-upload")
	upload.Input.Action.Size = 60 << 30
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	p := newPipeline(t, config.Audit{Sink: "file", Path: path}, nil)
	for _, r := range []*Record{form, upload} {
		if err := p.Record(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	events := readEvents(t, path)
	if len(events) != 2 {
		t.Fatalf("%d records, want 2", len(events))
	}
	for i, r := range []*Record{form, upload} {
		want := policyAction(t, r.Input)
		got, _ := json.Marshal(events[i].Input.Action)
		if string(got) != want {
			t.Errorf("%s: record's action %s, the policy saw %s", r.DecisionID, got, want)
		}
	}
	if events[0].Input.Action["form"] != true || events[1].Input.Action["size"] != float64(60<<30) {
		t.Errorf("form %v, size %v", events[0].Input.Action["form"], events[1].Input.Action["size"])
	}
}

// policyAction is input.action as the policy gets it, as JSON.
func policyAction(t *testing.T, in *authz.Input) string {
	t.Helper()
	v, err := in.AST()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Action map[string]any }
	if err := json.Unmarshal([]byte(v.String()), &doc); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(doc.Action)
	return string(out)
}

// TestRecordKeepsTheEvaluatedInput: a record that carries the value the
// policy evaluated (authz.Decision.InputAST) writes that value, not one
// rebuilt from the Input, which the request may have changed since.
func TestRecordKeepsTheEvaluatedInput(t *testing.T) {
	r := record("d-evaluated")
	evaluated, err := r.Input.AST()
	if err != nil {
		t.Fatal(err)
	}
	want := policyAction(t, r.Input)
	r.InputAST = evaluated
	r.Input.Action.Object = "changed/after/the/decision"
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	p := newPipeline(t, config.Audit{Sink: "file", Path: path}, nil)
	if err := p.Record(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	events := readEvents(t, path)
	if len(events) != 1 {
		t.Fatalf("%d records, want 1", len(events))
	}
	if got, _ := json.Marshal(events[0].Input.Action); string(got) != want {
		t.Errorf("record's action %s, the policy evaluated %s", got, want)
	}
}
