package server

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/signgate/signgate/authz"
)

// codeExplainNotAllowed: the caller asked for an explanation (?explain)
// and is not an admin (policy.admin_subjects).
const codeExplainNotAllowed = "explain_not_allowed"

// WithExplainSubjects lists the admins: the subjects (Principal.ID) that
// may ask POST /v1/decide?explain for OPA's trace of a decision, and give
// it any input (DecideAsRequest). Nobody may by default: a trace shows the
// policy's rules and data.
func WithExplainSubjects(ids []string) Option {
	return func(s *Server) {
		s.explainers = make(map[string]bool, len(ids))
		for _, id := range ids {
			s.explainers[id] = true
		}
	}
}

// policyResponse is the 200 answer of GET /v1/policy: the active policy
// revision, and how its source has fared.
type policyResponse struct {
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
	LastError *policyUpdateError `json:"last_error,omitempty"`
}

// policyUpdateError is a refused policy update.
type policyUpdateError struct {
	At       time.Time `json:"at"`
	Source   string    `json:"source"`
	Stage    string    `json:"stage"`              // download, read, verify, compile or decision
	Revision string    `json:"revision,omitempty"` // of the refused bundle, when known
	Message  string    `json:"message"`
}

func (s *Server) handlePolicy(c echo.Context) error {
	r := s.engine.Report()
	resp := policyResponse{Ready: r.Ready}
	if r.Ready {
		at := r.Active.ActivatedAt
		resp.Revision, resp.Source, resp.ActivatedAt = r.Active.Revision, r.Active.Source, &at
		resp.SigningKeyID = r.Active.SigningKeyID
	}
	if !r.LastCheck.IsZero() {
		resp.LastCheck = &r.LastCheck
	}
	if f := r.LastError; f != nil {
		resp.LastError = &policyUpdateError{At: f.At, Source: f.Source, Stage: string(f.Stage), Revision: f.Revision, Message: f.Err.Error()}
	}
	return c.JSON(http.StatusOK, &resp)
}

// explainResponse is the 200 answer of POST /v1/decide?explain: the
// decision and OPA's trace of the evaluation that made it.
type explainResponse struct {
	decideResponse
	Explanation []string `json:"explanation"`
}

// explain answers /v1/decide?explain=fails|notes|full (empty: fails). The
// traced evaluation only ever runs here, for the admins the configuration
// names.
func (s *Server) explain(c echo.Context, dc *decision) (any, error) {
	mode, err := authz.ParseExplainMode(c.QueryParam("explain"))
	if err != nil {
		return nil, invalid("explain: " + err.Error())
	}
	if !s.isAdmin(c) {
		return nil, problem(http.StatusForbidden, codeExplainNotAllowed, "this caller may not ask for explanations", nil)
	}
	in, err := s.decideInput(c)
	if err != nil {
		return nil, err
	}
	dc.input, dc.decided = in, true
	// evalTime stays zero: a traced evaluation would skew the latency metrics.
	d, trace, err := s.engine.Explain(c.Request().Context(), &dc.input, mode)
	dc.d = d
	if err := decisionProblem(err); err != nil {
		return nil, err
	}
	resp, err := s.toDecideResponse(dc)
	if err != nil {
		return nil, err
	}
	return &explainResponse{decideResponse: *resp, Explanation: trace}, nil
}
