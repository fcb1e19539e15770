package server

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/signgate/signgate/authz"
)

// decideAsRequest is the body of POST /v1/decide from an admin (a subject
// of policy.admin_subjects): the request fields, and the rest of the
// policy input that is otherwise taken from the caller and the connection.
// Each part given replaces what the caller's own request would put there,
// so an admin can reproduce any recorded decision, upload_too_large
// included. Anyone else may only send a signRequest.
type decideAsRequest struct {
	signRequest
	Subject *decideSubject `json:"subject,omitempty"`
	Source  *decideSource  `json:"source,omitempty"`
	// Size is the declared object size of a chunked upload.
	Size int64 `json:"size,omitempty"`
	// Time is the evaluation time, RFC 3339.
	Time string `json:"time,omitempty"`
}

// decideSubject is input.subject as an authenticator would build it.
type decideSubject struct {
	ID         string         `json:"id"`
	AuthMethod string         `json:"auth_method"`
	Teams      []string       `json:"teams"`
	Claims     map[string]any `json:"claims,omitempty"`
}

// decideSource is input.source.
type decideSource struct {
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent,omitempty"`
}

// Validate checks the request fields as /v1/sign does, and the rest of
// the input for shape.
func (r *decideAsRequest) validate() *apiError {
	if err := r.signRequest.validate(); err != nil {
		return err
	}
	if s := r.Subject; s != nil {
		if s.ID == "" {
			return invalid("subject.id is required")
		}
		for i, t := range s.Teams {
			if err := validateName(fmt.Sprintf("subject.teams[%d]", i), t, maxTeamBytes); err != nil {
				return err
			}
		}
	}
	if s := r.Source; s != nil {
		if _, err := netip.ParseAddr(s.IP); err != nil {
			return invalid("source.ip is not an IP address")
		}
	}
	if r.Size < 0 {
		return invalid("size must not be negative")
	}
	if r.Time != "" {
		if _, err := time.Parse(time.RFC3339, r.Time); err != nil {
			return invalid("time must be RFC 3339, such as 2026-11-27T10:00:00Z")
		}
	}
	return nil
}

// isAdmin reports whether the caller may decide as anyone and explain.
func (s *Server) isAdmin(c echo.Context) bool { return s.explainers[principal(c).ID] }

// decideInput reads the body of /v1/decide and builds the policy input:
// the caller's own for everyone, with an admin's overrides applied.
func (s *Server) decideInput(c echo.Context) (authz.Input, error) {
	if !s.isAdmin(c) {
		req, err := s.readRequest(c)
		if err != nil {
			return authz.Input{}, err
		}
		return s.requestInput(c, req), nil
	}
	var req decideAsRequest
	if err := decodeJSON(c.Response(), c.Request(), s.bodyLimit, &req); err != nil {
		return authz.Input{}, err
	}
	if err := req.validate(); err != nil {
		return authz.Input{}, err
	}
	in := s.requestInput(c, &req.signRequest)
	if sub := req.Subject; sub != nil {
		teams, claims := sub.Teams, sub.Claims
		if teams == nil {
			teams = []string{}
		}
		if claims == nil {
			claims = map[string]any{}
		}
		in.Subject = authz.Subject{ID: sub.ID, AuthMethod: sub.AuthMethod, Teams: teams, Claims: claims}
	}
	if src := req.Source; src != nil {
		in.Source = authz.Source{IP: src.IP, UserAgent: src.UserAgent}
	}
	in.Action.Size = req.Size
	if req.Time != "" {
		t, _ := time.Parse(time.RFC3339, req.Time)
		in.Time = t.UTC().Format(time.RFC3339)
	}
	return in, nil
}
