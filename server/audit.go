package server

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/signgate/signgate/server/audit"
)

// Record is one decision record; see audit.Record. The audit pipeline turns
// it into an OPA decision-log event off the request path.
type Record = audit.Record

// Auditor stores decision records. A best_effort auditor never fails. A
// strict one returns an error when the record was not stored, and then the
// caller must not hand out what the record describes.
type Auditor interface {
	Record(ctx context.Context, r *Record) error
}

// Discard drops records; for the "none" sink.
type Discard struct{}

// Record does nothing.
func (Discard) Record(context.Context, *Record) error { return nil }

// CodeAuditUnavailable: strict audit mode could not store the decision
// record, so the response carries no URL.
const CodeAuditUnavailable = audit.CodeUnavailable

// audit writes the decision record of dc with what its caller got: the
// status, the cause of a failure, and for a signed URL its response. Call it
// once per decision, per item for /v1/sign/batch and /v1/uploads, before
// the response is written.
//
// It returns nil, or, when a strict auditor could not store the record, a
// 503 audit_unavailable problem for dc: return that instead of the answer,
// so that no URL goes out without its record. A batch item whose record
// failed gets that problem as its result.
func (s *Server) audit(c echo.Context, endpoint string, dc *decision, status int, cause error, resp *SignResponse) error {
	if dc == nil {
		return nil // the request never reached the policy
	}
	rec := &Record{
		DecisionID: dc.id,
		Input:      &dc.input,
		Revision:   dc.d.Revision,
		Timestamp:  s.now().UTC(),
		RequestID:  c.Response().Header().Get(echo.HeaderXRequestID),
		Endpoint:   endpoint,
		Status:     status,
		EvalTime:   dc.evalTime,
		SignTime:   dc.signTime,
	}
	if dc.d.Revision != "" || cause == nil {
		d := dc.d
		rec.Result = &d
	}
	if cause != nil {
		rec.Error = errorCode(cause)
	}
	if resp != nil {
		rec.ExpiresAt, rec.Provider, rec.Bucket = resp.ExpiresAt, resp.Provider, resp.Bucket
		rec.ExpiryClampedBy = clampedBy(dc, resp)
	}
	s.metrics.decision(endpoint, dc, s.providerOf(dc), rec.Error)
	err := s.auditor.Record(context.WithoutCancel(c.Request().Context()), rec)
	if err == nil {
		return nil
	}
	s.log.Error("audit record not stored", "request_id", rec.RequestID, "decision_id", dc.id, "err", err)
	if !errors.Is(err, audit.ErrUnavailable) {
		// Only a strict pipeline fails a record; any other auditor's error
		// is logged, as a best-effort sink's would be.
		return nil
	}
	perr := problem(http.StatusServiceUnavailable, CodeAuditUnavailable, "the decision record could not be stored, so no URL was issued; try again", err)
	perr.Problem.DecisionID = dc.id
	return perr
}

// auditEntry is one decision of a request with many (a batch), and what
// its caller got, as audit takes them.
type auditEntry struct {
	dc     *decision
	status int
	cause  error
	resp   *SignResponse
}

// auditAll is audit for every decision of one request. A strict auditor
// gets the records all at once, so that they share a group commit rather
// than wait for one fsync (or upload) each; errs[i] is audit's result for
// entries[i].
func (s *Server) auditAll(c echo.Context, endpoint string, entries []auditEntry) []error {
	errs := make([]error, len(entries))
	if st, ok := s.auditor.(interface{ Strict() bool }); !ok || !st.Strict() || len(entries) < 2 {
		for i, e := range entries {
			errs[i] = s.audit(c, endpoint, e.dc, e.status, e.cause, e.resp)
		}
		return errs
	}
	var wg sync.WaitGroup
	for i, e := range entries {
		wg.Go(func() { errs[i] = s.audit(c, endpoint, e.dc, e.status, e.cause, e.resp) })
	}
	wg.Wait()
	return errs
}

// clampedBy names what made the signed expiry earlier than the caller
// asked: the signer ("credential", "provider_limit") or else the policy's
// cap.
func clampedBy(dc *decision, resp *SignResponse) string {
	if resp.ExpiryClampedBy != "" {
		return resp.ExpiryClampedBy
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

func errorCode(err error) string {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Problem.Code
	}
	return CodeInternal
}
