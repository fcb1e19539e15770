# Worked example (docs/policy.md): uploads of tar archives of at most 5 GiB.
package signgate.examples.tar_uploads_test

import data.signgate.authz

five_gib := 5368709120

# The team's entry in data.signgate.teams.
teams := {"backups": {
	"connector": "backups-s3",
	"prefix": "backups/",
	"operations": ["read", "write"],
	"upload_constraints": {"max_bytes": five_gib, "content_type": "application/x-tar"},
}}

upload(fields) := json.patch(
	{
		"subject": {"id": "bot", "teams": ["backups"], "auth_method": "api_key", "claims": {}},
		"action": {"team": "backups", "operation": "write", "object": "nightly/db.tar"},
		"source": {"ip": "10.0.0.5", "user_agent": "backup-agent/2"},
		"time": "2026-11-27T10:00:00Z",
	},
	[{"op": "add", "path": concat("/", ["", "action", k]), "value": v} | some k, v in fields],
)

test_an_upload_grant_carries_the_limits if {
	d := authz.decision with input as upload({}) with data.signgate.teams as teams
	d.allow
	d.constraints == {"max_bytes": five_gib, "content_type": "application/x-tar"}
}

test_a_tar_of_exactly_5_gib_may_be_uploaded if {
	d := authz.decision with input as upload({"size": five_gib, "content_type": "application/x-tar"}) with data.signgate.teams as teams
	d.allow
}

test_a_byte_over_5_gib_is_refused if {
	d := authz.decision with input as upload({"size": five_gib + 1}) with data.signgate.teams as teams
	not d.allow
	d.reasons == {"upload_too_large"}
}

test_another_content_type_is_refused if {
	d := authz.decision with input as upload({"content_type": "application/gzip"}) with data.signgate.teams as teams
	d.reasons == {"content_type_not_allowed"}
}

test_downloads_carry_no_upload_limits if {
	req := json.patch(upload({}), [{"op": "replace", "path": "/action/operation", "value": "read"}])
	d := authz.decision with input as req with data.signgate.teams as teams
	d.allow
	not d.constraints
}
