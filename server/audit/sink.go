package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"io"

	"github.com/open-policy-agent/opa/v1/plugins/logs"
)

// sinkPlugin is the name the sink is registered under with OPA's plugin
// manager; OPA's decision_logs plugin hands it every event (its "plugin"
// setting), after the drop and mask policies.
const sinkPlugin = "signgate_audit"

// sink is the open batch of JSON lines: the direct path adds the lines it
// encoded (add), and as the decision-log plugin at the end of OPA's
// pipeline it encodes the events OPA hands it (Log); commit writes the
// batch with one write and, when asked, one fsync: the group commit of
// strict mode.
// Without a writer (the service sink, where OPA uploads from its own
// buffer) it only counts events, which is how the pipeline knows that a
// record got through the drop and mask policies into OPA's buffer.
//
// Only the pipeline's worker goroutine calls it.
type sink struct {
	w    io.Writer // nil for the service sink
	sync func() error
	buf  bytes.Buffer
	enc  *json.Encoder
	seen uint64 // events handed over
}

var _ logs.Logger = (*sink)(nil)

func newSink(w io.Writer, sync func() error) *sink {
	s := &sink{w: w, sync: sync}
	s.enc = json.NewEncoder(&s.buf)
	s.enc.SetEscapeHTML(false)
	return s
}

func (*sink) Start(context.Context) error      { return nil }
func (*sink) Stop(context.Context)             {}
func (*sink) Reconfigure(context.Context, any) {}

// Log adds one masked event to the open batch.
func (s *sink) Log(_ context.Context, e logs.EventV1) error {
	if s.w != nil {
		if err := s.enc.Encode(&e); err != nil {
			return err
		}
	}
	s.seen++
	return nil
}

// add appends n events that the direct path encoded into b (which may be
// the buffer's own AvailableBuffer). They count as events handed over.
func (s *sink) add(b []byte, n int) {
	s.buf.Write(b)
	s.seen += uint64(n)
}

// mark is where the batch stands, so that a record whose encoding failed
// can be cut out of it again.
func (s *sink) mark() int { return s.buf.Len() }

func (s *sink) truncate(at int) { s.buf.Truncate(at) }

// commit writes the open batch; with durable, it is on disk when commit
// returns nil.
func (s *sink) commit(durable bool) error {
	if s.w == nil {
		return nil
	}
	defer s.buf.Reset()
	if s.buf.Len() > 0 {
		if _, err := s.w.Write(s.buf.Bytes()); err != nil {
			return err
		}
	}
	if durable && s.sync != nil {
		return s.sync()
	}
	return nil
}
