# Worked example (docs/policy.md): a contractor team that may only read.
package signgate.examples.read_only_test

import data.signgate.authz

# The team's entry in data.signgate.teams.
teams := {"contractors": {
	"connector": "contractors-s3",
	"prefix": "contractors/",
	"operations": ["read"],
	"max_ttl": {"read": 900},
	"members": ["carol"],
}}

request(op, id) := {
	"subject": {"id": id, "teams": [], "auth_method": "api_key", "claims": {}},
	"action": {"team": "contractors", "operation": op, "object": "specs/v2.pdf", "expires_in": 3600},
	"source": {"ip": "203.0.113.7", "user_agent": "curl/8"},
	"time": "2026-11-27T10:00:00Z",
}

test_contractor_reads_for_at_most_15_minutes if {
	d := authz.decision with input as request("read", "carol") with data.signgate.teams as teams
	d.allow
	d.key == "contractors/specs/v2.pdf"
	d.ttl_seconds == 900
}

test_contractor_cannot_upload if {
	d := authz.decision with input as request("write", "carol") with data.signgate.teams as teams
	not d.allow
	d.reasons == {"operation_not_allowed"}
}

test_contractor_cannot_delete if {
	d := authz.decision with input as request("delete", "carol") with data.signgate.teams as teams
	d.reasons == {"operation_not_allowed"}
}

test_others_cannot_read_the_contractors_files if {
	d := authz.decision with input as request("read", "mallory") with data.signgate.teams as teams
	d.reasons == {"not_team_member"}
}
