package server

import (
	"time"

	"github.com/signgate/signgate/authz"
)

// buildInput is the one place a request becomes a policy input. It is
// pure: the same arguments always give the same document.
func buildInput(p Principal, r *signRequest, ip, userAgent string, now time.Time) authz.Input {
	teams := p.Teams
	if teams == nil {
		teams = []string{}
	}
	claims := p.Claims
	if claims == nil {
		claims = map[string]any{}
	}
	in := authz.Input{
		Subject: authz.Subject{ID: p.ID, Teams: teams, AuthMethod: p.AuthMethod, Claims: claims},
		Action: authz.Action{
			Team:        r.Team,
			Operation:   r.Operation,
			Object:      r.Object,
			ContentType: r.ContentType,
			Form:        r.Form,
		},
		Source: authz.Source{IP: ip, UserAgent: userAgent},
		Time:   now.UTC().Format(time.RFC3339),
	}
	if r.ExpiresIn != nil {
		in.Action.ExpiresIn = *r.ExpiresIn
	}
	return in
}
