package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
)

// MaxBatchItems is the most items one /v1/sign/batch request may hold.
const MaxBatchItems = 1000

// batchBodyFactor scales the body limit for a batch: 1000 items with long
// keys do not fit in one item's 64 KiB.
const batchBodyFactor = 32

// BatchRequest is the body of POST /v1/sign/batch.
type BatchRequest struct {
	Items []SignRequest `json:"items"`
}

// BatchResponse is its 200 answer: one result per item, in order.
type BatchResponse struct {
	Results []BatchResult `json:"results"`
}

// BatchResult is one item's outcome: the fields of a /v1/sign answer when
// status is 200, otherwise the problem /v1/sign would have answered.
type BatchResult struct {
	Status int `json:"status"`
	*SignResponse
	Problem *Problem `json:"problem,omitempty"`
}

// batchItem is what one worker leaves for the audit pass.
type batchItem struct {
	dc   *decision
	resp *SignResponse
	err  *Error
}

// handleSignBatch authenticates once, then decides, signs and audits every
// item on its own, each with its own decision id: one denied or broken
// item never fails the others. The items are spread over GOMAXPROCS
// workers; the records are written afterwards, in item order.
func (s *Server) handleSignBatch(c echo.Context) error {
	const endpoint = "/v1/sign/batch"
	var req BatchRequest
	if err := decodeJSON(c.Response(), c.Request(), s.bodyLimit*batchBodyFactor, &req); err != nil {
		return err
	}
	switch n := len(req.Items); {
	case n == 0:
		return invalid("items must hold at least one item")
	case n > MaxBatchItems:
		return invalid(fmt.Sprintf("items holds %d items, over the limit of %d", n, MaxBatchItems))
	}
	r := c.Request()
	ctx, p, ip, ua, now := r.Context(), principal(c), c.RealIP(), r.UserAgent(), s.now()
	items := make([]batchItem, len(req.Items))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(max(runtime.GOMAXPROCS(0), s.remoteSignConcurrency()), len(items)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(items) {
					return
				}
				items[i] = s.signItem(ctx, p, &req.Items[i], ip, ua, now)
			}
		})
	}
	wg.Wait()

	requestID := c.Response().Header().Get(echo.HeaderXRequestID)
	out := BatchResponse{Results: make([]BatchResult, len(items))}
	entries := make([]auditEntry, len(items))
	for i, it := range items {
		status, cause := http.StatusOK, error(nil)
		if it.err != nil {
			status, cause = it.err.Problem.Status, it.err
			if it.err.Problem.Code == CodeDenied {
				cause = nil // a denial is a decision, not an error
			}
		}
		entries[i] = auditEntry{dc: it.dc, status: status, cause: cause, resp: it.resp}
	}
	audited := s.auditAll(c, endpoint, entries) // one group commit for the batch in strict mode
	for i, it := range items {
		// A strict auditor that cannot store the record turns the item into
		// its problem: no URL without its record.
		if aerr := audited[i]; aerr != nil {
			var perr *Error
			if !errors.As(aerr, &perr) {
				perr = problem(http.StatusInternalServerError, CodeInternal, "internal error", aerr)
			}
			it.err, it.resp = perr, nil
		}
		if it.err == nil {
			out.Results[i] = BatchResult{Status: http.StatusOK, SignResponse: it.resp}
			continue
		}
		pr := it.err.Problem
		pr.RequestID = requestID
		if pr.Status >= 500 {
			s.log.Error("batch item failed", "request_id", requestID, "item", i, "code", pr.Code, "err", errString(it.err.Cause))
		}
		out.Results[i] = BatchResult{Status: pr.Status, Problem: &pr}
	}
	return c.JSON(http.StatusOK, &out)
}

// signItem is /v1/sign for one item, without HTTP: validate, decide, sign.
func (s *Server) signItem(ctx context.Context, p Principal, req *SignRequest, ip, ua string, now time.Time) batchItem {
	if err := req.Validate(); err != nil {
		return batchItem{err: err}
	}
	dc, err := s.decideInput(ctx, BuildInput(p, req, ip, ua, now))
	if err != nil {
		perr, ok := err.(*Error)
		if !ok {
			perr = problem(http.StatusInternalServerError, CodeInternal, "internal error", err)
		}
		perr.Problem.DecisionID = dc.id
		return batchItem{dc: dc, err: perr}
	}
	if !dc.d.Allow {
		return batchItem{dc: dc, err: denied(dc)}
	}
	resp, perr := s.signDecision(ctx, dc)
	if perr != nil {
		perr.Problem.DecisionID = dc.id
		return batchItem{dc: dc, err: perr}
	}
	return batchItem{dc: dc, resp: resp}
}
