package authz

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/lineage"
)

// maxTraceLines bounds an explanation; a policy that loops over large data
// can trace far more than anyone reads.
const maxTraceLines = 20000

// ExplainMode is one of OPA's explain modes (opa eval --explain).
type ExplainMode string

const (
	// ExplainFails lists the expressions that failed, each with its file
	// and line: the short answer to "why was this denied".
	ExplainFails ExplainMode = "fails"
	// ExplainNotes lists the policy's trace() notes and their lineage.
	ExplainNotes ExplainMode = "notes"
	// ExplainFull is the whole trace, one line per step.
	ExplainFull ExplainMode = "full"
)

// ParseExplainMode maps the text of ?explain= onto a mode; empty is fails,
// as in OPA.
func ParseExplainMode(s string) (ExplainMode, error) {
	switch m := ExplainMode(s); m {
	case "":
		return ExplainFails, nil
	case ExplainFails, ExplainNotes, ExplainFull:
		return m, nil
	}
	return "", fmt.Errorf("unknown explain mode %q: want fails, notes or full", s)
}

// Explain evaluates in as Decide does, with OPA's tracer on, and returns
// the decision with its trace in the given mode, one line per step with
// its location (topdown.PrettyTraceWithLocation). Decision and trace come
// from one evaluation of one revision. Tracing costs many times an
// untraced evaluation: it is for diagnosis, never for signing.
func (e *Engine) Explain(ctx context.Context, in *Input, mode ExplainMode) (Decision, []string, error) {
	rev := e.active.Load()
	if rev == nil {
		return Decision{}, nil, ErrNotReady
	}
	buf := topdown.NewBufferTracer()
	d, err := e.eval(ctx, rev, in, rego.EvalQueryTracer(buf))
	return d, traceLines(filterTrace(*buf, mode)), err
}

// filterTrace applies OPA's lineage filters, as opa eval --explain does.
// fails keeps only the failed expressions themselves: their lineage (every
// rule entered on the way) is what makes a full trace long.
func filterTrace(events []*topdown.Event, mode ExplainMode) []*topdown.Event {
	switch mode {
	case ExplainNotes:
		return lineage.Notes(events)
	case ExplainFull:
		return lineage.Full(events)
	}
	var fails []*topdown.Event
	for _, ev := range lineage.Fails(events) {
		if ev.Op == topdown.FailOp && ev.Location != nil && ev.Location.File != "" {
			fails = append(fails, ev)
		}
	}
	return fails
}

func traceLines(events []*topdown.Event) []string {
	var sb strings.Builder
	topdown.PrettyTraceWithLocation(&sb, events)
	lines := []string{}
	sc := bufio.NewScanner(strings.NewReader(sb.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if len(lines) == maxTraceLines {
			lines = append(lines, "... trace truncated")
			break
		}
		lines = append(lines, strings.TrimRight(sc.Text(), " "))
	}
	return lines
}
