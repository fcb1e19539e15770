package authz

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ErrUnknownConnector marks a revision refused because its data gives a
// team a connector that cannot sign.
var ErrUnknownConnector = errors.New("a team names a connector the configuration does not have")

// teamConnector is a team of the policy's data and the connector it names
// (data.signgate.teams[team].connector).
type teamConnector struct{ team, connector string }

// teamConnectors reads the connector of every team in a bundle's data, in
// team order. A team whose connector is no string is left to the policy,
// which denies it (invalid_team_config).
func teamConnectors(data map[string]any) []teamConnector {
	sg, _ := data["signgate"].(map[string]any)
	teams, _ := sg["teams"].(map[string]any)
	var out []teamConnector
	for _, name := range slices.Sorted(maps.Keys(teams)) {
		team, _ := teams[name].(map[string]any)
		if c, ok := team["connector"].(string); ok {
			out = append(out, teamConnector{team: name, connector: c})
		}
	}
	return out
}

// SetConnectors names the connectors that can sign. From then on, Decide
// fails closed (ErrPolicy) on an allowing decision for any other
// connector, and Activate refuses a revision whose data gives a team a
// connector not among them, naming the team and the connector. The server
// calls it with the connectors it has signers for.
//
// When the active revision already names a connector not among them, it
// stays active (the decisions for those teams fail closed) and the error
// says which teams are affected.
func (e *Engine) SetConnectors(names []string) error {
	known := make(map[string]bool, len(names))
	for _, n := range names {
		known[n] = true
	}
	e.connectors.Store(&known)
	if rev := e.active.Load(); rev != nil {
		if err := e.checkConnectors(rev); err != nil {
			return fmt.Errorf("authz: active revision %s: %w", rev.id, err)
		}
	}
	return nil
}

func (e *Engine) knownConnector(name string) bool {
	known := e.connectors.Load()
	return known == nil || (*known)[name]
}

// checkConnectors refuses a revision whose data names a connector that
// cannot sign.
func (e *Engine) checkConnectors(rev *revision) error {
	var missing []string
	for _, tc := range rev.teams {
		if !e.knownConnector(tc.connector) {
			missing = append(missing, fmt.Sprintf("team %q names connector %q", tc.team, tc.connector))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrUnknownConnector, strings.Join(missing, "; "))
}
