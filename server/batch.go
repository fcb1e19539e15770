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

// maxBatchItems is the most items one /v1/sign/batch request may hold.
const maxBatchItems = 1000

// batchBodyFactor scales the body limit for a batch: 1000 items with long
// keys do not fit in one item's 64 KiB.
const batchBodyFactor = 32

// batchRequest is the body of POST /v1/sign/batch.
type batchRequest struct {
	Items []signRequest `json:"items"`
}

// batchResponse is its 200 answer: one result per item, in order.
type batchResponse struct {
	Results []batchResult `json:"results"`
}

// batchResult is one item's outcome: the fields of a /v1/sign answer when
// status is 200, otherwise the problem /v1/sign would have answered.
type batchResult struct {
	Status int `json:"status"`
	*signResponse
	Problem *problemDetails `json:"problem,omitempty"`
}

// handleSignBatch authenticates once, then decides and signs every item
// on its own, each with its own decision id and its own exit: one denied,
// broken or panicking item never fails the others. The items are spread
// over GOMAXPROCS workers; their records are then written together.
func (s *Server) handleSignBatch(c echo.Context) error {
	const endpoint = "/v1/sign/batch"
	var req batchRequest
	if err := decodeJSON(c.Response(), c.Request(), s.bodyLimit*batchBodyFactor, &req); err != nil {
		return err
	}
	switch n := len(req.Items); {
	case n == 0:
		return invalid("items must hold at least one item")
	case n > maxBatchItems:
		return invalid(fmt.Sprintf("items holds %d items, over the limit of %d", n, maxBatchItems))
	}
	r := c.Request()
	if err := spendItems(r.Context(), "", len(req.Items), 0); err != nil { // limits.go
		return err
	}
	ctx, p, ip, ua, now := r.Context(), principal(c), c.RealIP(), r.UserAgent(), s.now()
	outs := make([]*outcome, len(req.Items))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(max(runtime.GOMAXPROCS(0), s.remoteSignConcurrency()), len(outs)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(outs) {
					return
				}
				outs[i] = s.run(func(dc *decision) (any, error) { return s.signItem(ctx, dc, p, &req.Items[i], ip, ua, now) })
			}
		})
	}
	wg.Wait()
	s.exit(c, endpoint, outs) // one group commit for the batch in strict mode

	requestID := c.Response().Header().Get(echo.HeaderXRequestID)
	out := batchResponse{Results: make([]batchResult, len(outs))}
	for i, o := range outs {
		if resp, ok := o.body.(*signResponse); ok && o.err == nil {
			out.Results[i] = batchResult{Status: http.StatusOK, signResponse: resp}
			continue
		}
		var pe *apiError
		if !errors.As(o.err, &pe) { // settle made every error a problem
			pe = problem(http.StatusInternalServerError, codeInternal, "internal error", o.err)
		}
		pr := pe.Problem
		pr.RequestID = requestID
		if pr.Status >= 500 {
			s.log.Error("batch item failed", "request_id", requestID, "item", i, "code", pr.Code, "err", errString(pe.Cause))
		}
		out.Results[i] = batchResult{Status: pr.Status, Problem: &pr}
	}
	return c.JSON(http.StatusOK, &out)
}

// signItem is /v1/sign for one item, without HTTP: validate, decide, sign.
func (s *Server) signItem(ctx context.Context, dc *decision, p Principal, req *signRequest, ip, ua string, now time.Time) (any, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	if err := s.decideInto(ctx, dc, buildInput(p, req, ip, ua, now)); err != nil {
		return nil, err
	}
	if !dc.d.Allow {
		return nil, denied(dc)
	}
	return s.signDecision(ctx, dc)
}
