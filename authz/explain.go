package authz

import (
	"bufio"
	"context"
	"strings"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// maxTraceLines bounds an explanation; a policy that loops over large data
// can trace far more than anyone reads.
const maxTraceLines = 20000

// Explain evaluates in as Decide does, with OPA's tracer on, and returns
// the decision with its trace, one line per step with its location
// (topdown.PrettyTraceWithLocation). Decision and trace come from one
// evaluation of one revision. Tracing costs many times an untraced
// evaluation: it is for diagnosis, never for signing.
func (e *Engine) Explain(ctx context.Context, in *Input) (Decision, []string, error) {
	rev := e.active.Load()
	if rev == nil {
		return Decision{}, nil, ErrNotReady
	}
	buf := topdown.NewBufferTracer()
	d, err := e.eval(ctx, rev, in, rego.EvalQueryTracer(buf))
	return d, traceLines(*buf), err
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
