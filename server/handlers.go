package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/signgate/signgate/bundles"
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
}

// DecideResponse is the 200 answer of /v1/decide.
type DecideResponse struct {
	DecisionID  string         `json:"decision_id"`
	Allow       bool           `json:"allow"`
	Reasons     []string       `json:"reasons"`
	Connector   string         `json:"connector,omitempty"`
	Provider    string         `json:"provider,omitempty"`
	Bucket      string         `json:"bucket,omitempty"`
	Key         string         `json:"key,omitempty"`
	Operation   string         `json:"operation,omitempty"`
	TTLSeconds  int64          `json:"ttl_seconds,omitempty"`
	Constraints map[string]any `json:"constraints,omitempty"`
	Revision    string         `json:"revision"`
}

// decision is the outcome of the decide step shared by sign and decide.
type decision struct {
	id    string
	input bundles.Input
	d     bundles.Decision
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
	dc := &decision{
		id:    uuid.NewString(),
		input: BuildInput(principal(c), &req, c.RealIP(), r.UserAgent(), s.now()),
	}
	c.Set(decisionKey, dc.id)
	d, err := s.engine.Decide(r.Context(), &dc.input)
	dc.d = d
	switch {
	case errors.Is(err, bundles.ErrNotReady):
		return dc, problem(http.StatusServiceUnavailable, CodeNotReady, "no policy is active yet", err)
	case err != nil:
		return dc, problem(http.StatusInternalServerError, CodePolicyError, "the policy could not decide; the request is denied", err)
	}
	if d.Allow {
		// The policy builds the key; hold it to the same rules as the request.
		if kerr := ValidateKey(d.Key); kerr != nil {
			return dc, problem(http.StatusInternalServerError, CodePolicyError, "the policy could not decide; the request is denied", kerr)
		}
	}
	return dc, nil
}

func (s *Server) handleSign(c echo.Context) error {
	dc, err := s.decide(c)
	if err != nil {
		s.audit(c, "/v1/sign", dc, statusOf(err), err, nil)
		return err
	}
	if !dc.d.Allow {
		perr := denied(dc)
		s.audit(c, "/v1/sign", dc, http.StatusForbidden, nil, nil)
		return perr
	}
	sg := s.signers[dc.d.Connector]
	signed, err := sg.Sign(c.Request().Context(), signer.Grant{
		Key:         dc.d.Key,
		Operation:   signer.Operation(dc.d.Operation),
		TTL:         dc.d.TTL,
		ContentType: dc.input.Action.ContentType,
	})
	if err != nil {
		var perr *Error
		if errors.Is(err, signer.ErrUnsupported) {
			perr = problem(http.StatusUnprocessableEntity, CodeUnsupported, "the provider cannot enforce this request in a URL", err)
		} else {
			perr = problem(http.StatusBadGateway, CodeSignerError, "the URL could not be signed", err)
		}
		perr.Problem.DecisionID = dc.id
		s.audit(c, "/v1/sign", dc, perr.Problem.Status, err, nil)
		return perr
	}
	resp := SignResponse{
		URL:        signed.URL,
		Method:     signed.Method,
		Headers:    signed.Headers,
		ExpiresAt:  signed.ExpiresAt.UTC(),
		DecisionID: dc.id,
		Provider:   sg.Provider(),
		Bucket:     sg.Bucket(),
		Key:        dc.d.Key,
	}
	if resp.Headers == nil {
		resp.Headers = map[string]string{}
	}
	s.audit(c, "/v1/sign", dc, http.StatusOK, nil, &resp)
	return c.JSON(http.StatusOK, &resp)
}

func (s *Server) handleDecide(c echo.Context) error {
	dc, err := s.decide(c)
	if err != nil {
		s.audit(c, "/v1/decide", dc, statusOf(err), err, nil)
		return err
	}
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
	s.audit(c, "/v1/decide", dc, http.StatusOK, nil, nil)
	return c.JSON(http.StatusOK, &resp)
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

func (s *Server) handlePolicy(c echo.Context) error {
	st, ok := s.engine.Status()
	if !ok {
		return problem(http.StatusServiceUnavailable, CodeNotReady, "no policy is active yet", nil)
	}
	return c.JSON(http.StatusOK, st)
}
