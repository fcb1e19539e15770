package signgate.authz_test

import data.signgate.authz

# Fixture teams, independent of the shipped data.json.
teams := {
	"vision": {
		"connector": "vision-s3",
		"prefix": "vision/",
		"operations": ["read", "write", "delete"],
		"max_ttl": {"read": 3600, "write": 86400, "delete": 1800},
	},
	"archive": {
		"connector": "archive-s3",
		"prefix": "archive/",
		"operations": ["read", "write", "delete"],
	},
	"readonly": {
		"connector": "readonly-s3",
		"prefix": "readonly/",
		"operations": ["read"],
	},
	"vpn": {
		"connector": "vpn-s3",
		"prefix": "vpn/",
		"operations": ["read"],
		"cidrs": ["10.8.0.0/16", "fd00::/8"],
		"members": ["dave"],
	},
}

# A request that the fixture allows: alice, a vision member by token, reads.
base := {
	"subject": {"id": "alice", "teams": ["vision"], "auth_method": "api_key", "claims": {}},
	"action": {"team": "vision", "operation": "read", "object": "runs/42/model.pt", "expires_in": 0, "content_type": ""},
	"source": {"ip": "127.0.0.1", "user_agent": "curl/8"},
	"time": "2026-11-27T10:00:00Z",
}

# decision_of and reasons_of are the only ways these tests evaluate the
# policy. Each sets every data key the policy reads, so that a test depends
# on the data it names and on nothing else in data.json: a key the policy
# starts to read (a deny-list, say) gets its fixture value here, once.
decision_of(req, data_teams) := d if {
	d := authz.decision with input as req
		with data.signgate.teams as data_teams
		with data.signgate.blocked_subjects as []
}

reasons_of(req, data_teams) := r if {
	r := authz.reasons with input as req
		with data.signgate.teams as data_teams
		with data.signgate.blocked_subjects as []
}

# The shipped example teams (policies/data.json), named for the tests of the
# example data; every other test uses fixtures.
example_teams := data.signgate.teams

# decide evaluates the decision for base with patch merged in (recursively),
# against the fixture teams.
decide(patch) := decide_in(patch, teams)

# decide_in is decide against other team data, e.g. a broken vision team.
decide_in(patch, data_teams) := decision_of(object.union(base, patch), data_teams)

# with_vision returns the fixture teams with vision replaced.
with_vision(vision) := object.union(object.remove(teams, ["vision"]), {"vision": vision})

denied_for(patch, want) if denied_in(patch, teams, want)

denied_in(patch, data_teams, want) if {
	d := decide_in(patch, data_teams)
	d.allow == false
	d.reasons == want
}

# --- allow --------------------------------------------------------------------

test_allows_member_and_returns_the_complete_decision if {
	decide({}) == {
		"allow": true,
		"reasons": set(),
		"connector": "vision-s3",
		"key": "vision/runs/42/model.pt",
		"operation": "read",
		"ttl_seconds": 3600,
	}
}

test_key_is_team_prefix_plus_object if {
	decide({"action": {"team": "archive", "object": "a/b.txt"}, "subject": {"teams": ["archive"]}}).key == "archive/a/b.txt"
}

test_allows_write_and_delete_when_the_team_has_them if {
	decide({"action": {"operation": "write"}}).allow == true
	decide({"action": {"operation": "delete"}}).allow == true
}

test_allows_member_listed_in_team_data_without_token_team if {
	d := decide({
		"subject": {"id": "dave", "teams": []},
		"action": {"team": "vpn"},
		"source": {"ip": "10.8.1.2"},
	})
	d.allow == true
	d.connector == "vpn-s3"
}

test_allows_a_namespaced_api_key_member if {
	d := decide_in(
		{
			"subject": {"id": "frank", "principal": "key:frank", "teams": []},
			"action": {"team": "vpn"},
			"source": {"ip": "10.8.1.2"},
		},
		vpn_members(["key:frank"]),
	)
	d.allow == true
}

test_allows_a_namespaced_token_member if {
	d := decide_in(
		{
			"subject": {"id": "dave", "principal": "jwt:https://login.example.com/#dave", "auth_method": "jwt", "teams": []},
			"action": {"team": "vpn"},
			"source": {"ip": "10.8.1.2"},
		},
		vpn_members(["jwt:https://login.example.com/#dave"]),
	)
	d.allow == true
}

vpn_members(m) := object.union(teams, {"vpn": object.union(teams.vpn, {"members": m})})

test_a_bare_member_name_is_not_a_token_subject if {
	denied_for(
		{
			"subject": {"id": "dave", "principal": "jwt:https://evil.example/#dave", "auth_method": "jwt", "teams": []},
			"action": {"team": "vpn"},
			"source": {"ip": "10.8.1.2"},
		},
		{"not_team_member"},
	)
}

test_a_token_of_another_issuer_is_not_the_member if {
	denied_in(
		{
			"subject": {"id": "dave", "principal": "jwt:https://evil.example/#dave", "auth_method": "jwt", "teams": []},
			"action": {"team": "vpn"},
			"source": {"ip": "10.8.1.2"},
		},
		vpn_members(["jwt:https://login.example.com/#dave"]),
		{"not_team_member"},
	)
}

test_denies_an_unverified_email_subject if {
	denied_for(
		{"subject": {"id": "alice@example.com", "auth_method": "jwt", "claims": {"email": "alice@example.com", "email_verified": false}}},
		{"email_not_verified"},
	)
	denied_for(
		{"subject": {"id": "alice@example.com", "auth_method": "jwt", "claims": {"email": "alice@example.com"}}},
		{"email_not_verified"},
	)
}

test_allows_a_verified_email_subject_and_a_sub_subject if {
	decide({"subject": {"id": "alice@example.com", "auth_method": "jwt", "claims": {"email": "alice@example.com", "email_verified": true}}}).allow == true
	decide({"subject": {"id": "0a1b2c", "auth_method": "jwt", "claims": {"email": "alice@example.com", "email_verified": false}}}).allow == true
}

test_allows_token_team_member_not_in_team_data_members if {
	decide({
		"subject": {"id": "erin", "teams": ["vpn"]},
		"action": {"team": "vpn"},
		"source": {"ip": "10.8.1.2"},
	}).allow == true
}

test_allows_source_ip_inside_any_team_cidr if {
	vpn := {"subject": {"teams": ["vpn"]}, "action": {"team": "vpn"}}
	decide(object.union(vpn, {"source": {"ip": "10.8.255.254"}})).allow == true
	decide(object.union(vpn, {"source": {"ip": "fd00::1"}})).allow == true
}

test_grant_carries_the_matching_team_cidr_as_ip_range if {
	vpn := {"subject": {"teams": ["vpn"]}, "action": {"team": "vpn"}}
	decide(object.union(vpn, {"source": {"ip": "10.8.3.4"}})).constraints == {"ip_range": "10.8.0.0/16"}
	decide(object.union(vpn, {"source": {"ip": "fd00::1"}})).constraints == {"ip_range": "fd00::/8"}
}

test_grant_picks_the_first_of_several_matching_cidrs_in_order if {
	overlap := object.union(teams.vision, {"cidrs": ["10.0.0.0/8", "10.8.0.0/16"]})
	decide_in({"source": {"ip": "10.8.3.4"}}, with_vision(overlap)).constraints == {"ip_range": "10.0.0.0/8"}
}

test_grant_without_team_cidrs_has_no_constraints if {
	d := decide({})
	d.allow == true
	not d.constraints
}

test_allows_any_source_ip_when_team_cidrs_is_empty_or_null if {
	every cidrs in [[], null] {
		decide_in({"source": {"ip": "203.0.113.9"}}, with_vision(object.union(teams.vision, {"cidrs": cidrs}))).allow == true
	}
}

# --- ttl ----------------------------------------------------------------------

test_ttl_is_team_cap_when_expires_in_is_absent_zero_or_null if {
	decide({}).ttl_seconds == 3600
	decide({"action": {"expires_in": null}}).ttl_seconds == 3600
	decision_of(json.patch(base, [{"op": "remove", "path": "/action/expires_in"}]), teams).ttl_seconds == 3600
}

test_ttl_cap_is_per_operation if {
	decide({"action": {"operation": "write"}}).ttl_seconds == 86400
	decide({"action": {"operation": "delete"}}).ttl_seconds == 1800
}

test_expires_in_shortens_ttl if {
	decide({"action": {"expires_in": 900}}).ttl_seconds == 900
}

test_expires_in_never_lengthens_ttl if {
	decide({"action": {"expires_in": 7200}}).ttl_seconds == 3600
}

test_ttl_falls_back_to_defaults_when_team_has_no_max_ttl if {
	archive := {"subject": {"teams": ["archive"]}, "action": {"team": "archive"}}
	decide(object.union(archive, {"action": {"operation": "read"}})).ttl_seconds == 3600
	decide(object.union(archive, {"action": {"operation": "write"}})).ttl_seconds == 86400
	decide(object.union(archive, {"action": {"operation": "delete"}})).ttl_seconds == 3600
}

test_ttl_falls_back_to_default_for_an_operation_missing_from_max_ttl if {
	vision := json.patch(teams.vision, [{"op": "replace", "path": "/max_ttl", "value": {"read": 60}}])
	decide_in({"action": {"operation": "delete"}}, with_vision(vision)).ttl_seconds == 3600
	decide_in({"action": {"operation": "write"}}, with_vision(vision)).ttl_seconds == 86400
	decide_in({"action": {"operation": "read"}}, with_vision(vision)).ttl_seconds == 60
}

test_denies_expires_in_that_is_not_a_positive_integer if {
	every bad in [-1, 1.5, "900", true, {}] {
		denied_for({"action": {"expires_in": bad}}, {"invalid_ttl"})
	}
}

# --- deny ---------------------------------------------------------------------

test_denies_unknown_team if {
	denied_for({"action": {"team": "finance"}, "subject": {"teams": ["finance"]}}, {"unknown_team"})
}

test_denies_missing_team if {
	d := decision_of(json.patch(base, [{"op": "remove", "path": "/action/team"}]), teams)
	d.allow == false
	d.reasons == {"unknown_team"}
}

test_denies_caller_outside_the_team if {
	denied_for({"subject": {"id": "mallory", "teams": ["readonly"]}}, {"not_team_member"})
}

test_denies_caller_without_any_teams if {
	d := decision_of(json.patch(base, [{"op": "remove", "path": "/subject/teams"}]), teams)
	d.allow == false
	d.reasons == {"not_team_member"}
}

test_denies_operation_the_team_lacks if {
	denied_for({"subject": {"teams": ["readonly"]}, "action": {"team": "readonly", "operation": "write"}}, {"operation_not_allowed"})
}

test_denies_every_operation_when_team_lists_none if {
	denied_in({}, with_vision(object.union(teams.vision, {"operations": []})), {"operation_not_allowed"})
	denied_in({}, with_vision(object.remove(teams.vision, ["operations"])), {"operation_not_allowed"})
}

test_denies_unknown_operation if {
	denied_for({"action": {"operation": "list"}}, {"unknown_operation"})
}

test_denies_missing_operation if {
	d := decision_of(json.patch(base, [{"op": "remove", "path": "/action/operation"}]), teams)
	d.allow == false
	d.reasons == {"unknown_operation"}
}

test_denies_source_ip_outside_team_cidrs if {
	denied_for({"subject": {"teams": ["vpn"]}, "action": {"team": "vpn"}, "source": {"ip": "192.168.1.1"}}, {"network_not_allowed"})
}

test_denies_missing_or_malformed_source_ip_when_team_has_cidrs if {
	vpn := {"subject": {"teams": ["vpn"]}, "action": {"team": "vpn"}}
	every ip in ["", "not-an-ip", 10] {
		denied_for(object.union(vpn, {"source": {"ip": ip}}), {"network_not_allowed"})
	}
	d := decision_of(json.patch(object.union(base, vpn), [{"op": "remove", "path": "/source/ip"}]), teams)
	d.reasons == {"network_not_allowed"}
}

test_denies_every_source_ip_when_team_cidrs_is_malformed if {
	every cidrs in ["127.0.0.0/8", 127, {"127.0.0.0/8": true}] {
		denied_in({}, with_vision(object.union(teams.vision, {"cidrs": cidrs})), {"network_not_allowed"})
	}
}

test_denies_object_that_is_not_a_string if {
	every bad in [42, null, ["runs", "1"]] {
		denied_for({"action": {"object": bad}}, {"invalid_object"})
	}
	d := decision_of(json.patch(base, [{"op": "remove", "path": "/action/object"}]), teams)
	d.reasons == {"invalid_object"}
}

# Go validates object names (no leading "/", no "." or ".." segments...)
# before it asks; the policy only prefixes them.
test_key_keeps_the_object_verbatim if {
	decide({"action": {"object": "runs/..hidden/v1.2/.env"}}).key == "vision/runs/..hidden/v1.2/.env"
}

test_denies_team_without_string_connector_or_slash_terminated_prefix if {
	every patch in [
		{"connector": 7},
		{"prefix": "vision"},
		{"prefix": ""},
		{"prefix": 7},
	] {
		denied_in({}, with_vision(object.union(teams.vision, patch)), {"invalid_team_config"})
	}
	denied_in({}, with_vision(object.remove(teams.vision, ["connector"])), {"invalid_team_config"})
	denied_in({}, with_vision(object.remove(teams.vision, ["prefix"])), {"invalid_team_config"})
}

# Go checks the grant it gets back and fails closed on a ttl_seconds <= 0
# (or an unknown connector), so the policy does not re-check the caps in
# data on every request.
test_grant_carries_a_non_positive_cap_for_go_to_reject if {
	every cap in [0, -60] {
		d := decide_in({}, with_vision(object.union(teams.vision, {"max_ttl": {"read": cap}})))
		d.allow == true
		d.ttl_seconds <= 0
	}
}

test_reports_every_failing_rule_together if {
	denied_for(
		{
			"subject": {"id": "mallory", "teams": []},
			"action": {"team": "vpn", "operation": "write", "expires_in": -5},
			"source": {"ip": "8.8.8.8"},
		},
		{"not_team_member", "operation_not_allowed", "network_not_allowed", "invalid_ttl"},
	)
}

test_unknown_team_and_unknown_operation_report_only_their_own_reasons if {
	denied_for({"action": {"team": "finance", "operation": "list"}}, {"unknown_team", "unknown_operation"})
}

test_decision_is_a_deny_with_reasons_for_an_empty_input if {
	d := decision_of({}, teams)
	d.allow == false
	d.reasons == {"unknown_team", "unknown_operation", "invalid_object"}
}

test_decision_is_a_deny_with_reasons_when_there_is_no_team_data if {
	d := decision_of(base, {})
	d.allow == false
	d.reasons == {"unknown_team"}
}

# --- deny-list ----------------------------------------------------------------

test_denies_a_subject_on_the_global_deny_list_even_as_a_member if {
	d := authz.decision with input as base
		with data.signgate.teams as teams
		with data.signgate.blocked_subjects as ["alice"]
	d.allow == false
	d.reasons == {"subject_blocked"}
}

test_global_deny_list_leaves_other_subjects_alone if {
	d := authz.decision with input as object.union(base, {"subject": {"id": "bob"}})
		with data.signgate.teams as teams
		with data.signgate.blocked_subjects as ["alice"]
	d.allow == true
}

test_denies_a_subject_on_the_team_deny_list_only_in_that_team if {
	vision := object.union(teams.vision, {"blocked_subjects": ["alice"]})
	denied_in({}, with_vision(vision), {"subject_blocked"})
	decide_in({"subject": {"teams": ["archive"]}, "action": {"team": "archive"}}, with_vision(vision)).allow == true
}

test_blocking_wins_over_membership_in_team_data if {
	vpn := object.union(teams.vpn, {"blocked_subjects": ["dave"]})
	d := authz.decision with input as object.union(base, {"subject": {"id": "dave", "teams": []}, "action": {"team": "vpn"}, "source": {"ip": "10.8.1.2"}})
		with data.signgate.teams as object.union(teams, {"vpn": vpn})
	d.reasons == {"subject_blocked"}
}

test_blocks_a_namespaced_principal_and_only_it if {
	d := authz.decision with input as object.union(base, {"subject": {"principal": "key:alice"}})
		with data.signgate.teams as teams
		with data.signgate.blocked_subjects as ["key:alice"]
	d.reasons == {"subject_blocked"}
	token_alice := {"subject": {"principal": "jwt:https://login.example.com/#alice", "auth_method": "jwt"}}
	e := authz.decision with input as object.union(base, token_alice)
		with data.signgate.teams as teams
		with data.signgate.blocked_subjects as ["key:alice"]
	e.allow == true
	vision := object.union(teams.vision, {"blocked_subjects": ["jwt:https://login.example.com/#alice"]})
	denied_in(token_alice, with_vision(vision), {"subject_blocked"})
}

test_blocked_subject_reports_every_other_failed_check_too if {
	d := authz.decision with input as object.union(base, {"action": {"operation": "list"}})
		with data.signgate.teams as teams
		with data.signgate.blocked_subjects as ["alice"]
	d.reasons == {"subject_blocked", "unknown_operation"}
}

test_a_malformed_deny_list_blocks_everyone_it_covers if {
	d := authz.decision with input as base
		with data.signgate.teams as teams
		with data.signgate.blocked_subjects as "alice"
	d.reasons == {"subject_blocked"}
	denied_in({}, with_vision(object.union(teams.vision, {"blocked_subjects": {"alice": true}})), {"subject_blocked"})
}

test_example_data_blocks_nobody if {
	count(data.signgate.blocked_subjects) == 0
	authz.decision.allow == true with input as object.union(base, {"subject": {"teams": ["vision"]}, "action": {"team": "vision"}})
}

# --- grant and reasons --------------------------------------------------------

# The fixture plus three teams with broken data.
agreement_teams := object.union(teams, {
	"noslash": {"connector": "noslash-s3", "prefix": "noslash", "operations": ["read"], "blocked_subjects": ["eve"]},
	"noconnector": {"prefix": "noconnector/", "operations": ["read", "write"]},
	"numconnector": {"connector": 7, "prefix": "numconnector/", "operations": ["read"]},
})

agreement_inputs := [object.union(base, {
	"subject": subject,
	"action": object.union({"team": team, "operation": operation}, action),
	"source": {"ip": ip},
}) |
	some team in ["vision", "readonly", "vpn", "noslash", "noconnector", "numconnector", "finance"]
	some operation in ["read", "write", "list"]
	some subject in [
		{"id": "dave", "teams": []},
		{"id": "eve", "teams": [team]},
		{"id": "alice", "teams": [team]},
		{"id": "mallory", "teams": ["other"]},
	]
	some ip in ["10.8.1.2", "8.8.8.8"]
	some action in [
		{"expires_in": 900},
		{"expires_in": 0},
		{"expires_in": -1},
		{"expires_in": "900"},
		{"object": 42},
	]
]

# outcome is the decision and the reasons for one input: the decision
# takes the inline grant path, reasons is evaluated on its own.
outcome(req) := [d, r] if {
	d := decision_of(req, agreement_teams)
	r := reasons_of(req, agreement_teams)
}

agree([d, r]) if {
	d.allow == true
	r == set()
}

agree([d, r]) if {
	d.allow == false
	count(r) > 0
	d.reasons == r
}

test_grant_and_reasons_agree_on_every_combination if {
	outcomes := [o | some req in agreement_inputs; o := outcome(req)]
	count(outcomes) == count(agreement_inputs)
	every o in outcomes {
		agree(o)
	}

	# The table reaches both sides.
	count([o | some o in outcomes; o[0].allow]) > 0
	count([o | some o in outcomes; not o[0].allow]) > 0
}

# --- shipped example data (policies/data.json) --------------------------------

test_example_data_maps_each_team_to_its_connector if {
	want := {
		"vision": "vision-s3",
		"research": "research-s3",
		"nlp": "nlp-gcs",
		"web": "web-azure",
		"contractors": "contractors-s3",
	}
	every team, connector in want {
		d := decide_in({"subject": {"teams": [team]}, "action": {"team": team}}, example_teams)
		d.allow == true
		d.connector == connector
		d.key == concat("", [team, "/runs/42/model.pt"])
	}
}

test_example_data_research_is_read_only if {
	d := decide_in({"subject": {"teams": ["research"]}, "action": {"team": "research", "operation": "write"}}, example_teams)
	d.reasons == {"operation_not_allowed"}
}

test_example_data_contractor_carol_reads_for_15_minutes_from_a_private_network if {
	carol := {"subject": {"id": "carol", "teams": []}, "action": {"team": "contractors"}}
	d := decide_in(object.union(carol, {"source": {"ip": "192.168.3.4"}}), example_teams)
	d.allow == true
	d.ttl_seconds == 900
	e := decide_in(object.union(carol, {"source": {"ip": "203.0.113.9"}}), example_teams)
	e.reasons == {"network_not_allowed"}
}
