package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/signer"
)

// signResponse is the 200 answer of /v1/sign.
type signResponse struct {
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
	Network *networkBinding `json:"network,omitempty"`
}

// decideResponse is the 200 answer of /v1/decide.
type decideResponse struct {
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

// readRequest decodes and validates the body of /v1/sign and /v1/decide.
func (s *Server) readRequest(c echo.Context) (*signRequest, error) {
	var req signRequest
	if err := decodeJSON(c.Response(), c.Request(), s.bodyLimit, &req); err != nil {
		return nil, err
	}
	if err := req.validate(); err != nil {
		return nil, err
	}
	return &req, nil
}

// requestInput is the policy input of req from c.
func (s *Server) requestInput(c echo.Context, req *signRequest) authz.Input {
	r := c.Request()
	return buildInput(principal(c), req, c.RealIP(), r.UserAgent(), s.now())
}

// decideInto asks the policy about in for dc. It is safe for concurrent
// use on distinct decisions (/v1/sign/batch).
func (s *Server) decideInto(ctx context.Context, dc *decision, in authz.Input) error {
	dc.input, dc.decided = in, true
	start := time.Now()
	d, err := s.engine.Decide(ctx, &dc.input)
	dc.d, dc.evalTime = d, time.Since(start)
	return decisionProblem(err)
}

// decisionProblem is the problem a caller gets for the engine's error, or
// nil when the decision can be used.
func decisionProblem(err error) error {
	if err == nil {
		return nil // before tooLong, which errors.As would move to the heap
	}
	var tooLong *authz.ObjectTooLongError
	switch {
	case errors.Is(err, authz.ErrNotReady):
		return problem(http.StatusServiceUnavailable, codeNotReady, "no policy is active yet", err)
	case errors.As(err, &tooLong):
		return invalid(fmt.Sprintf("object is too long for team %q: its key would be %d bytes, over the limit of %d; objects of this team may be at most %d bytes",
			tooLong.Team, tooLong.KeyBytes, signer.MaxKeyBytes, tooLong.MaxObjectBytes))
	}
	return problem(http.StatusInternalServerError, codePolicyError, "the policy could not decide; the request is denied", err)
}

// signerFor is the signer of an allowing decision's connector.
func (s *Server) signerFor(d *authz.Decision) (signer.Signer, error) {
	if sg, ok := s.signers[d.Connector]; ok {
		return sg, nil
	}
	// The engine refuses unknown connectors; this only guards against an
	// engine that was never told them.
	return nil, problem(http.StatusInternalServerError, codePolicyError, "the policy could not decide; the request is denied",
		fmt.Errorf("decision names connector %q, which has no signer", d.Connector))
}

// sign is POST /v1/sign.
func (s *Server) sign(c echo.Context, dc *decision) (any, error) {
	req, err := s.readRequest(c)
	if err != nil {
		return nil, err
	}
	if err := s.decideInto(c.Request().Context(), dc, s.requestInput(c, req)); err != nil {
		return nil, err
	}
	if !dc.d.Allow {
		return nil, denied(dc)
	}
	return s.signDecision(c.Request().Context(), dc)
}

// decide is POST /v1/decide: the whole decision, signed by nobody.
func (s *Server) decide(c echo.Context, dc *decision) (any, error) {
	if c.QueryParams().Has("explain") {
		return s.explain(c, dc) // policy.go
	}
	in, err := s.decideInput(c) // decide_as.go
	if err != nil {
		return nil, err
	}
	if err := s.decideInto(c.Request().Context(), dc, in); err != nil {
		return nil, err
	}
	return s.toDecideResponse(dc)
}

// toDecideResponse is the whole decision, as /v1/decide answers it.
func (s *Server) toDecideResponse(dc *decision) (*decideResponse, error) {
	d := dc.d
	resp := &decideResponse{
		DecisionID: dc.id, Allow: d.Allow, Reasons: d.Reasons, Revision: d.Revision,
	}
	if d.Allow {
		sg, err := s.signerFor(&d)
		if err != nil {
			return nil, err
		}
		resp.Connector, resp.Provider, resp.Bucket = d.Connector, sg.Provider(), sg.Bucket()
		resp.Key, resp.Operation, resp.TTLSeconds = d.Key, d.Operation, d.TTLSeconds()
		resp.Constraints = d.Constraints
	}
	return resp, nil
}

func denied(dc *decision) *apiError {
	e := problem(http.StatusForbidden, codeDenied, "the policy denied this request", nil)
	e.Problem.Reasons = dc.d.Reasons
	e.Problem.DecisionID = dc.id
	return e
}

func (s *Server) handleHealthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReadyz(c echo.Context) error {
	st, ok := s.engine.Status()
	if !ok || len(s.signers) == 0 {
		return problem(http.StatusServiceUnavailable, codeNotReady, "no policy is active or no connector is configured", nil)
	}
	// Each connector says whether it can sign (readiness.go); with
	// require_signers, one that cannot keeps the service unready.
	conns, down := s.readyConnectors(c.Request().Context())
	if s.requireSigners && len(down) > 0 {
		return problem(http.StatusServiceUnavailable, codeNotReady, "connectors that cannot sign: "+strings.Join(down, ", "), nil)
	}
	return c.JSON(http.StatusOK, map[string]any{"status": "ready", "revision": st.Revision, "connectors": conns})
}
