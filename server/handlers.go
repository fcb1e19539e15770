package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/signer"
)

// SignResponse is the 200 answer of /v1/sign.
type SignResponse struct {
	URL        string            `json:"url"`
	Method     string            `json:"method"`
	Headers    map[string]string `json:"headers"`
	ExpiresAt  time.Time         `json:"expires_at"`
	DecisionID string            `json:"decision_id"`
	Provider   string            `json:"provider"`
	Bucket     string            `json:"bucket"`
	Key        string            `json:"key"`
	// Fields are the form fields of a POST policy ("form": true).
	Fields map[string]string `json:"fields,omitempty"`
	// ExpiryClampedBy says why expires_at is earlier than the policy's TTL:
	// "credential" or "provider_limit".
	ExpiryClampedBy string `json:"expiry_clamped_by,omitempty"`
	// UnenforcedConstraints are the advisory constraints that the storage
	// server does not enforce on this URL.
	UnenforcedConstraints []string `json:"unenforced_constraints,omitempty"`
	// Network is the client IP range the policy limited this grant to,
	// and who enforces it.
	Network *NetworkBinding `json:"network,omitempty"`
}

// DecideResponse is the 200 answer of /v1/decide.
type DecideResponse struct {
	DecisionID  string            `json:"decision_id"`
	Allow       bool              `json:"allow"`
	Reasons     []string          `json:"reasons"`
	Connector   string            `json:"connector,omitempty"`
	Provider    string            `json:"provider,omitempty"`
	Bucket      string            `json:"bucket,omitempty"`
	Key         string            `json:"key,omitempty"`
	Operation   string            `json:"operation,omitempty"`
	TTLSeconds  int64             `json:"ttl_seconds,omitempty"`
	Constraints authz.Constraints `json:"constraints,omitzero"`
	Revision    string            `json:"revision"`
}

// decision is the outcome of the decide step shared by sign and decide.
type decision struct {
	id    string
	input authz.Input
	d     authz.Decision

	evalTime time.Duration // policy evaluation, for metrics and the record
	signTime time.Duration // signing, when the decision was signed
}

func (s *Server) decide(c echo.Context) (*decision, error) {
	var req SignRequest
	if err := decodeJSON(c.Response(), c.Request(), s.bodyLimit, &req); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	r := c.Request()
	dc, err := s.decideInput(r.Context(), BuildInput(principal(c), &req, c.RealIP(), r.UserAgent(), s.now()))
	c.Set(decisionKey, dc.id)
	return dc, err
}

// decideInput asks the policy about in under a fresh decision id. It is
// safe for concurrent use (/v1/sign/batch) and always returns a decision.
func (s *Server) decideInput(ctx context.Context, in authz.Input) (*decision, error) {
	dc := &decision{id: uuid.NewString(), input: in}
	start := time.Now()
	d, err := s.engine.Decide(ctx, &dc.input)
	dc.d, dc.evalTime = d, time.Since(start)
	return dc, decisionProblem(err)
}

// decisionProblem is the problem a caller gets for the engine's answer, or
// nil when the decision can be used.
func decisionProblem(err error) error {
	var tooLong *authz.ObjectTooLongError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, authz.ErrNotReady):
		return problem(http.StatusServiceUnavailable, CodeNotReady, "no policy is active yet", err)
	case errors.As(err, &tooLong):
		return invalid(fmt.Sprintf("object is too long for team %q: its key would be %d bytes, over the limit of %d; objects of this team may be at most %d bytes",
			tooLong.Team, tooLong.KeyBytes, signer.MaxKeyBytes, tooLong.MaxObjectBytes))
	}
	return problem(http.StatusInternalServerError, CodePolicyError, "the policy could not decide; the request is denied", err)
}

func (s *Server) handleSign(c echo.Context) error {
	dc, err := s.decide(c)
	if err != nil {
		return cmp.Or(s.audit(c, "/v1/sign", dc, statusOf(err), err, nil), err)
	}
	if !dc.d.Allow {
		return cmp.Or(s.audit(c, "/v1/sign", dc, http.StatusForbidden, nil, nil), error(denied(dc)))
	}
	resp, perr := s.signDecision(c.Request().Context(), dc)
	if perr != nil {
		perr.Problem.DecisionID = dc.id
		return cmp.Or(s.audit(c, "/v1/sign", dc, perr.Problem.Status, perr, nil), error(perr))
	}
	// A strict auditor answers before the URL leaves: no URL without its record.
	if err := s.audit(c, "/v1/sign", dc, http.StatusOK, nil, resp); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resp)
}

func (s *Server) handleDecide(c echo.Context) error {
	if c.QueryParams().Has("explain") {
		return s.handleExplain(c) // policy.go
	}
	dc, err := s.decide(c)
	if err != nil {
		return cmp.Or(s.audit(c, "/v1/decide", dc, statusOf(err), err, nil), err)
	}
	resp := s.decideResponse(dc)
	if err := s.audit(c, "/v1/decide", dc, http.StatusOK, nil, nil); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, &resp)
}

// decideResponse is the whole decision, as /v1/decide answers it.
func (s *Server) decideResponse(dc *decision) DecideResponse {
	d := dc.d
	resp := DecideResponse{
		DecisionID: dc.id, Allow: d.Allow, Reasons: d.Reasons, Revision: d.Revision,
	}
	if d.Allow {
		sg := s.signers[d.Connector]
		resp.Connector, resp.Provider, resp.Bucket = d.Connector, sg.Provider(), sg.Bucket()
		resp.Key, resp.Operation, resp.TTLSeconds = d.Key, d.Operation, d.TTLSeconds()
		resp.Constraints = d.Constraints
	}
	return resp
}

func denied(dc *decision) *Error {
	e := problem(http.StatusForbidden, CodeDenied, "the policy denied this request", nil)
	e.Problem.Reasons = dc.d.Reasons
	e.Problem.DecisionID = dc.id
	return e
}

func statusOf(err error) int {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Problem.Status
	}
	return http.StatusInternalServerError
}

func (s *Server) handleHealthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReadyz(c echo.Context) error {
	st, ok := s.engine.Status()
	if !ok || len(s.signers) == 0 {
		return problem(http.StatusServiceUnavailable, CodeNotReady, "no policy is active or no connector is configured", nil)
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready", "revision": st.Revision})
}
