package server

import (
	"cmp"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

// CodeExplainNotAllowed: the caller asked for an explanation
// (?explain=full) and is not in policy.explain_subjects.
const CodeExplainNotAllowed = "explain_not_allowed"

// WithExplainSubjects lists the subjects (Principal.ID) that may ask
// POST /v1/decide?explain=full for OPA's trace of their decision. Nobody
// may by default: a trace shows the policy's rules and data.
func WithExplainSubjects(ids []string) Option {
	return func(s *Server) {
		s.explain = make(map[string]bool, len(ids))
		for _, id := range ids {
			s.explain[id] = true
		}
	}
}

// PolicyResponse is the 200 answer of GET /v1/policy: the active policy
// revision, and how its source has fared.
type PolicyResponse struct {
	// Ready is false until a first revision is active; the other fields of
	// the active revision are then absent.
	Ready       bool       `json:"ready"`
	Revision    string     `json:"revision,omitempty"`
	Source      string     `json:"source,omitempty"`
	ActivatedAt *time.Time `json:"activated_at,omitempty"`
	// SigningKeyID names the key that verified the active bundle.
	SigningKeyID string `json:"signing_key_id,omitempty"`
	// LastCheck is when the source was last looked at, whatever came of it.
	LastCheck *time.Time `json:"last_check,omitempty"`
	// LastError is the last refused update since the active revision was
	// activated: the active revision stayed.
	LastError *PolicyError `json:"last_error,omitempty"`
}

// PolicyError is a refused policy update.
type PolicyError struct {
	At       time.Time `json:"at"`
	Source   string    `json:"source"`
	Stage    string    `json:"stage"`              // download, read, verify, compile or decision
	Revision string    `json:"revision,omitempty"` // of the refused bundle, when known
	Message  string    `json:"message"`
}

func (s *Server) handlePolicy(c echo.Context) error {
	r := s.engine.Report()
	resp := PolicyResponse{Ready: r.Ready}
	if r.Ready {
		at := r.Active.ActivatedAt
		resp.Revision, resp.Source, resp.ActivatedAt = r.Active.Revision, r.Active.Source, &at
		resp.SigningKeyID = r.Active.SigningKeyID
	}
	if !r.LastCheck.IsZero() {
		resp.LastCheck = &r.LastCheck
	}
	if f := r.LastError; f != nil {
		resp.LastError = &PolicyError{At: f.At, Source: f.Source, Stage: string(f.Stage), Revision: f.Revision, Message: f.Err.Error()}
	}
	return c.JSON(http.StatusOK, &resp)
}

// ExplainResponse is the 200 answer of POST /v1/decide?explain=full: the
// decision and OPA's trace of the evaluation that made it.
type ExplainResponse struct {
	DecideResponse
	Explanation []string `json:"explanation"`
}

// handleExplain answers /v1/decide?explain=full. The traced evaluation
// only ever runs here, for the subjects the configuration names.
func (s *Server) handleExplain(c echo.Context) error {
	if c.QueryParam("explain") != "full" {
		return invalid(`explain: the only mode is "full"`)
	}
	p := principal(c)
	if !s.explain[p.ID] {
		return problem(http.StatusForbidden, CodeExplainNotAllowed, "this caller may not ask for explanations", nil)
	}
	var req SignRequest
	if err := decodeJSON(c.Response(), c.Request(), s.bodyLimit, &req); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	r := c.Request()
	dc := &decision{id: uuid.NewString(), input: BuildInput(p, &req, c.RealIP(), r.UserAgent(), s.now())}
	c.Set(decisionKey, dc.id)
	// evalTime stays zero: a traced evaluation would skew the latency metrics.
	d, trace, err := s.engine.Explain(r.Context(), &dc.input)
	dc.d = d
	if err := decisionProblem(err); err != nil {
		return cmp.Or(s.audit(c, "/v1/decide", dc, statusOf(err), err, nil), err)
	}
	resp := ExplainResponse{DecideResponse: s.decideResponse(dc), Explanation: trace}
	if err := s.audit(c, "/v1/decide", dc, http.StatusOK, nil, nil); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, &resp)
}
