package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/server/audit"
)

// A deciding request (/v1/sign, each item of /v1/sign/batch, /v1/uploads,
// /v1/decide) has one exit. Its handler only returns a value or an error;
// the exit then, once for each decision:
//
//   - recovers a panic into a 500 problem that carries the decision id;
//   - answers 499 when the client has gone (its request context was
//     cancelled), instead of blaming the policy or the signer;
//   - writes exactly one decision record and counts the decision's metrics;
//   - in strict audit mode, answers 503 instead of the value when its
//     record could not be stored: no URL without its record.

// decision is one decision on its way to the exit.
type decision struct {
	id      string
	input   authz.Input
	d       authz.Decision
	decided bool // the policy was asked: the decision has a record

	evalTime time.Duration // policy evaluation, for metrics and the record
	signTime time.Duration // signing, when the decision was signed
	// issued describes what a successful answer hands out, for its record.
	issued issued
}

// issued is what a record says of a signed answer.
type issued struct {
	expiresAt time.Time
	provider  string
	bucket    string
	clampedBy string // the signer's reason ("credential", "provider_limit")
}

// outcome is what a deciding handler, or a batch item, came to.
type outcome struct {
	dc   *decision
	body any
	err  error
}

// decidingFunc is a deciding handler: it reads and validates the request,
// asks the policy with s.decideInto(dc, ...) and returns the 200 body.
type decidingFunc func(c echo.Context, dc *decision) (any, error)

// deciding wraps h in the one exit of a deciding request.
func (s *Server) deciding(endpoint string, h decidingFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		o := s.run(func(dc *decision) (any, error) { return h(c, dc) })
		s.exit(c, endpoint, []*outcome{o})
		if o.dc.decided {
			c.Set(decisionKey, o.dc) // a pointer: no copy of the id (requestlog.go)
		}
		if o.err != nil {
			return o.err
		}
		return writeJSON(c, http.StatusOK, o.body) // respond.go
	}
}

// run calls h with a fresh decision, turning a panic into a 500 problem.
func (s *Server) run(h func(dc *decision) (any, error)) (o *outcome) {
	od := &struct { // one allocation for both
		o  outcome
		dc decision
	}{dc: decision{id: newID()}}
	o = &od.o
	o.dc = &od.dc
	defer func() {
		if r := recover(); r != nil {
			o.body = nil
			o.err = problem(http.StatusInternalServerError, codeInternal, "internal error",
				fmt.Errorf("panic: %v\n%s", r, debug.Stack()))
		}
	}()
	o.body, o.err = h(o.dc)
	return o
}

// exit settles every outcome of one request and writes their records: the
// one place a deciding request is audited and measured. A strict auditor
// gets the records of a batch all at once, so that they share a group
// commit.
func (s *Server) exit(c echo.Context, endpoint string, outs []*outcome) {
	ctx := c.Request().Context()
	for _, o := range outs {
		o.err = settle(ctx, o.dc, o.err)
	}
	// The records of one request share one wait: a batch whose records
	// find no room waits the auditor's timeout once, not once per item.
	// A single record needs no shared deadline: the auditor bounds its
	// own wait by the same timeout, and the request saves a timer.
	rctx := context.WithoutCancel(ctx)
	if w, ok := s.auditor.(interface{ Timeout() time.Duration }); ok && len(outs) > 1 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(rctx, w.Timeout())
		defer cancel()
	}
	if st, ok := s.auditor.(interface{ Strict() bool }); !ok || !st.Strict() || len(outs) < 2 {
		for _, o := range outs {
			s.record(rctx, c, endpoint, o)
		}
		return
	}
	var wg sync.WaitGroup
	gctx := rctx // captured by value: rctx itself stays on the stack
	for _, o := range outs {
		wg.Go(func() { s.record(gctx, c, endpoint, o) })
	}
	wg.Wait()
}

// codeClientClosed: the client went away before its answer was ready.
const codeClientClosed = "client_closed_request"

// statusClientClosed is the status recorded (and answered, to nobody) for
// a request whose client went away: nginx's 499.
const statusClientClosed = 499

// settle is the problem a caller gets for err: 499 when the client has
// gone, and the decision id on every problem of a decided request.
func settle(ctx context.Context, dc *decision, err error) error {
	if err == nil {
		return nil
	}
	pe := asProblem(err)
	if errors.Is(ctx.Err(), context.Canceled) && (pe.Problem.Status >= 500 || errors.Is(err, context.Canceled)) {
		pe = problem(statusClientClosed, codeClientClosed, "the client closed the request before its answer was ready", err)
		pe.Problem.Title = "Client Closed Request"
	}
	if dc.decided && pe.Problem.DecisionID == "" {
		pe.Problem.DecisionID = dc.id
	}
	return pe
}

// record writes the decision record of o, counts its metrics, and, when
// a strict auditor could not store the record, turns o into a 503
// audit_unavailable problem. An auditor that panics counts as one that
// could not store the record. A best_effort pipeline fails only the record
// of an issued URL, and only when it found no room for it within ctx.
func (s *Server) record(ctx context.Context, c echo.Context, endpoint string, o *outcome) {
	dc := o.dc
	if !dc.decided {
		return // the request never reached the policy
	}
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("audit record not stored", "decision_id", dc.id, "err", fmt.Sprintf("panic: %v", r))
			perr := problem(http.StatusServiceUnavailable, codeAuditUnavailable, "the decision record could not be stored, so no URL was issued; try again", nil)
			perr.Problem.DecisionID = dc.id
			o.body, o.err = nil, perr
		}
	}()
	rec := &Record{
		DecisionID: dc.id,
		Input:      &dc.input,
		InputAST:   dc.d.InputAST,
		Revision:   dc.d.Revision,
		Timestamp:  s.now().UTC(),
		RequestID:  c.Response().Header().Get(echo.HeaderXRequestID),
		Endpoint:   endpoint,
		Status:     http.StatusOK,
		EvalTime:   dc.evalTime,
		SignTime:   dc.signTime,
	}
	if pe := settledProblem(o.err); pe != nil {
		rec.Status = pe.Problem.Status
		if pe.Problem.Code != codeDenied { // a denial is a decision, not an error
			rec.Error = pe.Problem.Code
		}
	}
	if dc.d.Revision != "" || o.err == nil {
		rec.Result = &dc.d // nothing changes the decision after its exit
	}
	if o.err == nil && !dc.issued.expiresAt.IsZero() {
		rec.ExpiresAt, rec.Provider, rec.Bucket = dc.issued.expiresAt, dc.issued.provider, dc.issued.bucket
		rec.ExpiryClampedBy = clampedBy(dc)
	}
	s.metrics.decision(endpoint, dc, s.providerOf(dc), rec.Error)
	err := s.auditor.Record(ctx, rec)
	if err == nil {
		return
	}
	s.log.Error("audit record not stored", "request_id", rec.RequestID, "decision_id", dc.id, "err", err)
	if !errors.Is(err, audit.ErrUnavailable) {
		// Only the pipeline fails a record; any other auditor's error is
		// logged, as a best-effort sink's would be.
		return
	}
	perr := problem(http.StatusServiceUnavailable, codeAuditUnavailable, "the decision record could not be stored, so no URL was issued; try again", err)
	perr.Problem.DecisionID = dc.id
	o.body, o.err = nil, perr
}

// settledProblem is the *apiError in err, which settle made one; it
// declares no variable for errors.As on the common path, which would cost
// an allocation per record.
func settledProblem(err error) *apiError {
	if pe, ok := err.(*apiError); ok || err == nil {
		return pe
	}
	var pe *apiError
	errors.As(err, &pe)
	return pe
}

// clampedBy names what made the signed expiry earlier than the caller
// asked: the signer ("credential", "provider_limit") or else the policy's
// cap.
func clampedBy(dc *decision) string {
	if dc.issued.clampedBy != "" {
		return dc.issued.clampedBy
	}
	if asked := dc.input.Action.ExpiresIn; asked > 0 && dc.d.TTL < time.Duration(asked)*time.Second {
		return "policy"
	}
	return ""
}

func (s *Server) providerOf(dc *decision) string {
	if sg, ok := s.signers[dc.d.Connector]; ok && dc.d.Allow {
		return sg.Provider()
	}
	return ""
}
